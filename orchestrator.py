#!/usr/bin/env python3
"""Storalloc orchestrator. Run with --help for options."""

import sys

from storalloc.cli.orchestrator import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
