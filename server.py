#!/usr/bin/env python3
"""Storalloc storage server. Run with --help for options."""

import sys

from storalloc.cli.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
