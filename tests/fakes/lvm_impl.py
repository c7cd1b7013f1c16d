"""Fake lvcreate, lvremove, lvs, lvchange, vgs: LVM's argv, messages and exit codes (5 on failure).

Extra environment (see fakelib for the common one):
  STORALLOC_FAKE_VGS  comma list of existing volume groups, `name[=size in GiB]` (default 1024)
  STORALLOC_FAKE_DEV  if set, lvcreate makes `$STORALLOC_FAKE_DEV/<vg>/<lv>` (a stand-in for
                      the /dev/<vg>/<lv> node) and lvremove deletes it
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from fakelib import die, load_json, save_json, start, state_dir

UNITS = {"b": 1, "s": 512, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
EXTENT = 4 << 20


def _vgs() -> dict[str, int]:
    out = {}
    for spec in filter(None, os.environ.get("STORALLOC_FAKE_VGS", "").split(",")):
        name, _, gib = spec.partition("=")
        out[name.strip()] = int(float(gib or 1024) * (1 << 30))
    return out


def _state() -> dict[str, dict[str, int]]:
    state = load_json(state_dir() / "lvm.json", {})
    for vg in _vgs():
        state.setdefault(vg, {})
    return state


def _save(state: dict[str, dict[str, int]]) -> None:
    save_json(state_dir() / "lvm.json", state)


def _vg_missing(vg: str) -> None:
    die(f'  Volume group "{vg}" not found\n  Cannot process volume group {vg}', 5)


def _dev(vg: str, lv: str) -> Path | None:
    root = os.environ.get("STORALLOC_FAKE_DEV")
    return Path(root, vg, lv) if root else None


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([bBsSkKmMgGtT]?)", text)
    if not m:
        die(f"  Invalid argument for --size: {text}\n  Error during parsing of command line.", 3)
    value = float(m[1]) * UNITS[(m[2] or "m").lower()]
    return -(-int(value) // EXTENT) * EXTENT  # LVM rounds up to whole extents


def lvcreate(args: list[str], fail: bool) -> None:
    """lvcreate -y -L SIZE -n NAME VG."""
    size = name = vg = None
    it = iter(args)
    for a in it:
        if a in ("-L", "--size"):
            size = _parse_size(next(it))
        elif a in ("-n", "--name"):
            name = next(it)
        elif a in ("-y", "--yes"):
            continue
        elif a.startswith("-"):
            die(f"lvcreate: unrecognized option '{a}'", 3)
        else:
            vg = a
    if size is None or name is None or vg is None:
        die("  Please specify either size or extents (not both).\n  Run `lvcreate --help'", 3)
    state = _state()
    if vg not in state:
        _vg_missing(vg)
    if name in state[vg]:
        die(f'  Logical Volume "{name}" already exists in volume group "{vg}"', 5)
    free = _vgs().get(vg, 1 << 40) - sum(state[vg].values())
    if fail or size > free:
        die(
            f'  Volume group "{vg}" has insufficient free space ({max(free, 0) // EXTENT} '
            f"extents): {size // EXTENT} required.",
            5,
        )
    state[vg][name] = size
    _save(state)
    dev = _dev(vg, name)
    if dev:
        dev.parent.mkdir(parents=True, exist_ok=True)
        with dev.open("wb") as f:
            f.truncate(size)
    print(f'  Logical volume "{name}" created.')


def lvremove(args: list[str], fail: bool) -> None:
    """lvremove -y VG/NAME."""
    targets = [a for a in args if not a.startswith("-")]
    if len(targets) != 1 or "/" not in targets[0]:
        die("  Please enter one or more logical volume paths.\n  Run `lvremove --help'", 3)
    vg, name = targets[0].split("/", 1)
    state = _state()
    if vg not in state:
        _vg_missing(vg)
    if name not in state[vg]:
        die(f'  Failed to find logical volume "{vg}/{name}"', 5)
    if fail:
        die(f"  Logical volume {vg}/{name} in use.", 5)
    del state[vg][name]
    _save(state)
    dev = _dev(vg, name)
    if dev and dev.exists():
        dev.unlink()
    print(f'  Logical volume "{name}" successfully removed.')


def lvchange(args: list[str], fail: bool) -> None:
    """lvchange -ay VG/NAME (activation: the /dev node is already there in the fake)."""
    targets = [a for a in args if not a.startswith("-")]
    if "-ay" not in args or len(targets) != 1 or "/" not in targets[0]:
        die("  Please give logical volume path(s).\n  Run `lvchange --help'", 3)
    vg, name = targets[0].split("/", 1)
    state = _state()
    if vg not in state:
        _vg_missing(vg)
    if fail or name not in state[vg]:
        die(f'  Failed to find logical volume "{vg}/{name}"', 5)


def lvs(args: list[str], fail: bool) -> None:
    """lvs --noheadings -o lv_name VG (only the form the backend uses)."""
    vgs = [a for a in args if not a.startswith("-") and a != "lv_name"]
    state = _state()
    if fail:
        die("  Reading VG failed.", 5)
    for vg in vgs:
        if vg not in state:
            _vg_missing(vg)
        for name in sorted(state[vg]):
            print(f"  {name}")


def vgs(args: list[str], fail: bool) -> None:
    """vgs --noheadings --units b --nosuffix -o vg_size|vg_name,vg_size VG... (the server's
    forms): rows for the VGs found, then LVM's messages for the others and exit 5."""
    fields = args[args.index("-o") + 1].split(",") if "-o" in args else ["vg_size"]
    names = [a for a in args if not a.startswith("-") and a not in ("b", ",".join(fields))]
    sizes = _vgs()
    if fail:
        die("  Reading VG failed.", 5)
    missing = []
    for vg in names:
        if vg not in sizes:
            missing.append(vg)
            continue
        row = {"vg_name": vg, "vg_size": str(sizes[vg])}
        print("  " + " ".join(row[f] for f in fields))
    if missing:
        sys.stdout.flush()
        die("\n".join(f'  Volume group "{vg}" not found\n  Cannot process volume group {vg}'
                      for vg in missing), 5)  # fmt: skip


def _devices(args: list[str]) -> list[str]:
    """Drop `--devices PV` pairs (LVM 2.03.12+); a VG named in STORALLOC_FAKE_VG_PVS as
    `vg=pv` is only found when its PV is among them, as with the real option."""
    out, seen = [], []
    it = iter(args)
    for a in it:
        if a == "--devices":
            seen.append(next(it, ""))
        else:
            out.append(a)
    pvs = dict(
        s.split("=", 1)
        for s in filter(None, os.environ.get("STORALLOC_FAKE_VG_PVS", "").split(","))
    )
    if seen:
        for vg, pv in pvs.items():
            if pv not in seen and any(vg in a for a in out):
                _vg_missing(vg)
    return out


def main(tool: str) -> None:
    """Entry point of the lvcreate / lvremove / lvs scripts."""
    args, fail = start(tool)
    args = _devices(args)
    tools = {"lvcreate": lvcreate, "lvremove": lvremove, "lvs": lvs, "lvchange": lvchange,
             "vgs": vgs}  # fmt: skip
    tools[tool](args, fail)
    sys.exit(0)
