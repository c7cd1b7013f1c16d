"""Storalloc: a job scheduler for storage resources."""

__version__ = "0.1.0"
