"""`python -m storalloc.simulate`: the one-process replay sweep (see storalloc.sim.sweep)."""

import sys

from storalloc.sim.sweep import main

if __name__ == "__main__":
    sys.exit(main())
