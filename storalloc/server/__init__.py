"""The storage server process and its backends."""
