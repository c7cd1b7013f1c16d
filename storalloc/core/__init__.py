"""The scheduling core: jobs, their lifecycle, planning, capacity over time, timers and clocks.

It imports neither ZeroMQ nor any front end, so simulations run the very same code."""
