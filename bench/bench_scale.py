"""Scale benchmark of issue 11: every target measured in one run, written to
doc/performance.md with a PNG of seconds per request against live leases.

    .venv/bin/python bench/bench_scale.py [--quick] [--skip NAME ...]

Each measurement runs in a child process (bench/scale_tasks.py): a fresh heap, its own peak
RSS, CPU time rather than wall time where the host's other jobs would distort it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import perf_doc  # noqa: E402

from storalloc import accel  # noqa: E402

LIVES = (100, 1000, 3000, 10000)
SITES = {8: 1, 1000: 125}  # disks -> ault14 nodes


def task(name: str, compiled: bool = True, **args: object) -> dict:
    """One measurement in a child process; compiled=False runs it from the Python sources
    even where the compiled core is built (storalloc/accel.py)."""
    argv = [sys.executable, str(ROOT / "bench" / "scale_tasks.py"), name, json.dumps(args)]
    env = None if compiled else {**os.environ, accel.SWITCH: "0"}
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.splitlines()[-1])


def both(figures: dict, key: str, label: str, name: str, **args: object) -> None:
    """figures[key] as shipped, and figures[key + "_py"] from the Python sources when the
    compiled core is in use (otherwise the two are the same run)."""
    with step(label):
        figures[key] = task(name, **args)
    if accel.active():
        with step(f"{label}, from the Python sources"):
            figures[f"{key}_py"] = task(name, compiled=False, **args)


def step(label: str):
    """Print a progress line, then its duration when the context ends."""

    class _Step:
        def __enter__(self) -> None:
            self.t = time.perf_counter()
            print(f"- {label} ...", end="", flush=True)

        def __exit__(self, *exc: object) -> None:
            print(f" {time.perf_counter() - self.t:.1f} s", flush=True)

    return _Step()


def curves(quick: bool) -> dict:
    """seconds/request per (disks, live, before|after); 'before' uses fewer requests at high
    concurrency because it is that slow. 'after' times 8,000 requests a point: at 100 live
    2,000 of them took 0.1 s, short enough for the host's noise to move the ratio of the
    10,000-live cost to it by 0.1x from one run to the next. With the compiled core in use,
    'after' is measured from the Python sources too."""
    labels = ["before", "after"] + ([perf_doc.FROM_SOURCES] if accel.active() else [])
    result: dict[str, dict[str, float]] = {}
    for disks, nodes in SITES.items():
        for label in labels:
            key = f"{disks} disks, {label}"
            result[key] = {}
            for live in LIVES:
                measured = 300 if label == "before" else 8000
                if quick:
                    measured //= 4
                with step(f"{key}: {live} live"):
                    runs = [task("steady", compiled=label != perf_doc.FROM_SOURCES, nodes=nodes,
                                 live=live, before=label == "before",
                                 measured=measured)["per_request"]
                            for _ in range(1 if quick or label == "before" else 2)]  # fmt: skip
                result[key][str(live)] = min(runs)  # repeat-min: noise only adds time
    return result


def targets(quick: bool, skip: set[str]) -> dict:
    scale = 10 if quick else 1
    figures: dict[str, object] = {}
    if "replay" not in skip:
        for disks, nodes in SITES.items():
            both(figures, f"80k_{disks}", f"80,000 requests, 10,000 live, {disks} disks",
                 "replay", nodes=nodes, requests=80_000 // scale, live=10_000)
    if "million" not in skip:
        both(figures, "million", "1,000,000 requests (synthetic year's shape), 8 disks",
             "replay", nodes=1, requests=1_000_000 // scale, live=0)
    if "swf" not in skip:
        both(figures, "swf", "SWF-shaped trace: 188,041 jobs, 3,359 live, 8 disks", "swf")
    if "floors" not in skip:  # what made the compiled core necessary: the sources' floors
        for free in ("node", "all"):
            with step(f"SWF-shaped trace, {free} capacity bookings free (a floor), sources"):
                figures[f"swf_free_{free}"] = task("swf_floor", compiled=False, free=free)
    if "placement" not in skip:
        with step("worst_case decisions, 1,000 disks x 100k reservations"):
            figures["placement"] = task("placement", reservations=100_000 // scale,
                                        count=300 // scale, strategy="worst_case")  # fmt: skip
    if "three" not in skip:
        import bench_replay as br

        from storalloc.sim.traces import generate

        with step("synthetic year, one process and three processes"):
            figures["three"] = three_vs_one(br, generate(br.REQUESTS, seed=br.SEED))
    if "wire" not in skip:
        import bench_wire

        with step("wire: bare relay and live grants"):
            figures["wire"] = bench_wire.measure(quick)
    return figures


def three_vs_one(br, records) -> dict:
    import tempfile

    from storalloc.sim.traces import write_native_csv

    one = min(br.one_process(records)[0] for _ in range(2))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.csv"
        write_native_csv(records, path)
        three = br.three_processes(path, Path(tmp) / "three.yml")[0]
    return {"one": one, "three": three}


def profiles(quick: bool) -> dict:
    measured = 100 if quick else 400
    out = {}
    for key, nodes, live, before in (("8 disks, 3,000 live, before", 1, 3000, True),
                                     ("8 disks, 3,000 live, after", 1, 3000, False),
                                     ("1,000 disks, 1,000 live, after", 125, 1000, False)):
        with step(f"profile: {key}"):
            # From the Python sources: cProfile does not see into compiled functions.
            out[key] = task("profile_steady", compiled=False, nodes=nodes, live=live,
                            before=before, measured=measured)["profile"]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes (a smoke run)")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="replay million swf floors placement three wire curves profiles")
    parser.add_argument("--out", default=str(ROOT / "doc" / "performance.md"))
    parser.add_argument("--from-json", metavar="JSON",
                        help="rewrite the doc from a previous run's figures, measuring nothing")
    args = parser.parse_args()
    if args.from_json:
        perf_doc.write(json.loads(Path(args.from_json).read_text()), Path(args.out))
        return
    skip = set(args.skip)
    began = time.perf_counter()
    load = os.getloadavg()
    data = {"curves": {} if "curves" in skip else curves(args.quick),
            "targets": targets(args.quick, skip),
            "profiles": {} if "profiles" in skip else profiles(args.quick)}  # fmt: skip
    data["meta"] = {"quick": args.quick, "load": load, "seconds": time.perf_counter() - began,
                    "command": " ".join(["bench/bench_scale.py", *sys.argv[1:]]),
                    "compiled": accel.status()}  # fmt: skip
    out = Path(args.out)
    (out.parent / "performance.json").write_text(json.dumps(data, indent=1))
    perf_doc.write(data, out)
    print(f"written to {out} in {data['meta']['seconds']:.0f} s")


if __name__ == "__main__":
    main()
