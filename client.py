#!/usr/bin/env python3
"""Storalloc client. Run with --help for options."""

import sys

from storalloc.cli.client import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
