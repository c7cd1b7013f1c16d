"""`storalloc-simulate`: the one-process replay sweep (storalloc.sim.sweep), with --version."""

from __future__ import annotations

import sys

from storalloc.cli.common import closed_pipe_safe, prog_name


@closed_pipe_safe
def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--version" in args:
        from storalloc import __version__

        print(f"{prog_name('storalloc-simulate')} {__version__}")
        return 0
    from storalloc.sim.sweep import main as sweep

    return sweep(args)


if __name__ == "__main__":
    sys.exit(main())
