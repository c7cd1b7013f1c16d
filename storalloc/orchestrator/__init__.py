"""The orchestrator process: poll loop, wire adapter, state, timeline."""
