"""Command-line front ends: argument parsing, configuration, logging, and wiring of parts."""
