"""Write real Darshan logs in the current format (3.41) with libdarshan-util's own writer.

PyDarshan ships only 3.10 and 3.21 example logs. Its wheel's libdarshan-util also exports
the writing half of the API (what `darshan-convert` uses): create a log, put the job, exe,
mounts, name hash and module records, close. Driving it through cffi gives logs in the
library's current format with records we choose. The name hash (a C hash table) is taken
from an example log, so record ids must be ids of names in that log.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

# The writing functions PyDarshan does not declare; struct layouts come from PyDarshan's
# own declarations (api_def_c), which match the bundled library.
_WRITER_DEFS = """
void* darshan_log_create(const char *name, int comp_type, int partial_flag);
int darshan_log_put_job(void *fd, struct darshan_job *job);
int darshan_log_put_exe(void *fd, char *buf);
int darshan_log_put_mounts(void *fd, struct darshan_mnt_info *mnts, int count);
int darshan_log_put_namehash(void *fd, void *hash);
int darshan_log_put_mod(void *fd, int mod_id, void *buf, int size, int ver);
"""
NAMES_FROM = "pq_app_readAB_writeC_id71326_7-31-5658-2037904274838284930_55623.darshan"
# Module id, record struct, current record version (as libdarshan-util 3.4/3.5 writes them).
MODULES = {
    "POSIX": (1, "struct darshan_posix_file", 4),
    "MPI-IO": (2, "struct darshan_mpiio_file", 3),
    "STDIO": (9, "struct darshan_stdio_file", 2),
    "DFS": (16, "struct darshan_dfs_file", 1),
}
WRITTEN = {"POSIX": "POSIX_BYTES_WRITTEN", "MPI-IO": "MPIIO_BYTES_WRITTEN",
           "STDIO": "STDIO_BYTES_WRITTEN", "DFS": "DFS_BYTES_WRITTEN"}  # fmt: skip


@dataclasses.dataclass
class Job:
    start: int = 1_700_000_000
    end: int = 1_700_003_600
    uid: int = 4242
    nprocs: int = 4
    user: str | None = "alice"


class Writer:
    """libdarshan-util's log writer, plus the name records of the example log."""

    def __init__(self) -> None:
        pytest.importorskip("darshan", reason="the optional package 'darshan' is not installed")
        import cffi
        from darshan.backend import api_def_c, cffi_backend
        from darshan.log_utils import get_log_path

        self.ffi = cffi.FFI()
        self.ffi.cdef(api_def_c.load_darshan_header() + _WRITER_DEFS)
        self.lib = self.ffi.dlopen(_lib_path())
        self.source = get_log_path(NAMES_FROM).encode()
        src = self.lib.darshan_log_open(self.source)
        names = self.ffi.new("struct darshan_name_record **")
        count = self.ffi.new("int *")
        self.lib.darshan_log_get_name_records(src, names, count)
        self.ids = {self.ffi.string(names[0][i].name).decode(): names[0][i].id
                    for i in range(count[0])}  # fmt: skip
        # Short names for the example's files: 'A', 'B', 'C', 'C.locktest.0', ...
        self.ids.update({n.rsplit("/", 1)[-1]: i for n, i in self.ids.items() if "graph/" in n})
        self.lib.darshan_log_close(src)
        self.counters = {m: cffi_backend.counter_names(m) for m in MODULES}

    def write(self, path: Path, job: Job, records: dict[str, dict[str, int]],
              partial: tuple[str, ...] = ()) -> Path:  # fmt: skip
        """A log at `path`: records[module][file name] = bytes written by that file."""
        flags = 0
        for module in partial:
            flags |= 1 << MODULES[module][0]
        fd = self.lib.darshan_log_create(str(path).encode(), 0, flags)  # 0 = zlib
        assert fd != self.ffi.NULL, f"cannot create {path}"
        self._put_header(fd, job)
        for module in sorted(records, key=lambda m: MODULES[m][0]):
            self._put_module(fd, module, records[module])
        self.lib.darshan_log_close(fd)
        return path

    def _put_header(self, fd: object, job: Job) -> None:
        ffi, lib = self.ffi, self.lib
        rec = ffi.new("struct darshan_job *")
        rec.uid, rec.nprocs, rec.jobid = job.uid, job.nprocs, 77
        rec.start_time_sec, rec.end_time_sec = job.start, job.end
        meta = "lib_ver=3.5.0\n" + (f"user={job.user}\n" if job.user else "")
        rec.metadata = meta.encode()
        assert lib.darshan_log_put_job(fd, rec) == 0
        assert lib.darshan_log_put_exe(fd, ffi.new("char[]", b"/bin/app --out /scratch")) == 0
        mnt = ffi.new("struct darshan_mnt_info[1]")
        mnt[0].mnt_type, mnt[0].mnt_path = b"lustre", b"/scratch"
        assert lib.darshan_log_put_mounts(fd, mnt, 1) == 0
        src = lib.darshan_log_open(self.source)
        table = ffi.new("struct darshan_name_record_ref **")
        assert lib.darshan_log_get_namehash(src, table) == 0
        assert lib.darshan_log_put_namehash(fd, table[0]) == 0
        lib.darshan_log_close(src)

    def _put_module(self, fd: object, module: str, files: dict[str, int]) -> None:
        mod_id, struct, version = MODULES[module]
        index = self.counters[module].index(WRITTEN[module])
        for name, written in files.items():
            rec = self.ffi.new(f"{struct} *")
            rec.base_rec.id, rec.base_rec.rank = self.ids[name], -1
            rec.counters[index] = written
            size = self.ffi.sizeof(struct)
            assert self.lib.darshan_log_put_mod(fd, mod_id, rec, size, version) == 0


def _lib_path() -> str:
    import glob
    import os

    import darshan

    libs = os.path.join(os.path.dirname(os.path.dirname(darshan.__file__)), "darshan.libs")
    found = sorted(glob.glob(os.path.join(libs, "libdarshan-util*.so*")))
    if not found:
        from darshan.discover_darshan import discover_darshan

        return os.path.join(discover_darshan(), "lib", "libdarshan-util.so")
    return found[0]
