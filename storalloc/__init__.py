"""Storalloc: a job scheduler for storage resources."""

import sys

__version__ = "0.1.0"

MIN_PYTHON = (3, 11)


def check_python(version=sys.version_info):
    """Refuse to go on under an old Python, before any module that needs 3.11 is imported
    (the package's first line runs before anything else, for scripts and commands alike).
    Written in the plainest Python so that older interpreters can still run it."""
    if tuple(version[:2]) < MIN_PYTHON:
        text = "storalloc: error: Python {}.{} or newer is needed, this is Python {}.{} ({})"
        return text.format(MIN_PYTHON[0], MIN_PYTHON[1], version[0], version[1], sys.executable)
    return None


def examples_dir():
    """Where the shipped example configs and systems are (config/ in a checkout)."""
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")


_problem = check_python()
if _problem:
    sys.stderr.write(_problem + "\n")
    sys.exit(1)
