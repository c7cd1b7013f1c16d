"""Read Darshan logs in a worker process, so that libdarshan-util can crash on a damaged log
without taking the caller with it.

One worker serves every log of a read (starting Python and importing PyDarshan costs about
a second); after a crash the next log starts a new one. The protocol is one JSON line per
log each way on the worker's stdin/stdout: the log's path, then its result.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from storalloc.sim.traces.base import TraceError, TraceRecord
from storalloc.sim.traces.darshan_logs import LogResult

__all__ = ["LogReader", "main"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])  # the directory holding storalloc/
# How the worker starts (tests start one whose pre-check is off, to make libdarshan crash).
WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "storalloc.sim.traces.darshan_worker")
# Seconds one log may take (the first one includes importing PyDarshan): a log that makes
# libdarshan-util loop costs that log, not the run. Huge DXT logs take tens of seconds.
LOG_TIMEOUT = 600.0


class LogReader:
    """Reads one log at a time in a reusable worker; use it as a context manager."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, path: Path) -> LogResult:
        """The log's request and warnings; TraceError for a bad log, naming it."""
        proc = self._worker()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(str(path)) + "\n")
            proc.stdin.flush()
        except OSError:  # the worker died before it read the request
            raise TraceError(path, None, self._crash()) from None
        # One request, one answer line: nothing is left in the buffer between two logs, so
        # waiting on the pipe itself is exact.
        ready, _, _ = select.select([proc.stdout], [], [], LOG_TIMEOUT)
        if not ready:
            proc.kill()
            self._crash()
            problem = (f"damaged Darshan log: libdarshan-util did not finish reading it "
                       f"within {LOG_TIMEOUT:g} s")  # fmt: skip
            raise TraceError(path, None, problem)
        line = proc.stdout.readline()
        if not line:
            raise TraceError(path, None, self._crash())
        return _decode(path, json.loads(line))

    def close(self) -> None:
        """Stop the worker (end of input makes it exit) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _worker(self) -> subprocess.Popen[str]:
        if self._proc is None:
            # libdarshan-util's own messages go to a file: quoted in the error on a crash.
            # Kept open for the worker's life (closed in close()): no `with` block fits.
            self._stderr = tempfile.TemporaryFile(  # noqa: SIM115
                "w+", encoding="utf-8", errors="replace"
            )
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p
            )
            self._proc = subprocess.Popen(
                list(WORKER_COMMAND),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                text=True, env=env,
            )  # fmt: skip
        return self._proc

    def _crash(self) -> str:
        """Why the worker died, for the error; the next log gets a new worker."""
        proc = self._proc
        assert proc is not None and self._stderr is not None
        code = proc.wait()
        self._stderr.seek(0)
        said = [ln.strip() for ln in self._stderr.read().splitlines() if ln.strip()]
        self.close()
        how = f"exit status {code}"
        if code < 0:
            how = signal.Signals(-code).name if -code in signal.valid_signals() else how
        detail = f" ({said[-1][:200]})" if said else ""
        return f"damaged Darshan log: libdarshan-util crashed reading it ({how}){detail}"


def _decode(path: Path, answer: dict[str, Any]) -> LogResult:
    if answer.get("error") is not None:
        raise TraceError(path, None, answer["error"])
    fields = answer.get("record")
    record = TraceRecord(*fields) if fields is not None else None
    return record, list(answer.get("warnings", []))


def _answer(path: Path, darshan: Any) -> dict[str, Any]:
    from storalloc.sim.traces.darshan_logs import log_record

    try:
        record, warnings = log_record(path, darshan)
    except TraceError as err:
        return {"error": err.problem}
    except Exception as err:  # whatever PyDarshan raises costs this log only
        return {"error": f"cannot read Darshan log: {type(err).__name__}: {err}"}
    fields = None if record is None else [record.id, record.submit, record.start,
                                          record.duration, record.capacity, record.user]
    return {"record": fields, "warnings": warnings}  # fmt: skip


def main() -> int:
    """The worker: read paths from stdin, answer on the original stdout."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything a library prints must not mix with the answers
    from storalloc.sim.traces.darshan_logs import import_darshan

    darshan = None
    for line in sys.stdin:
        path = Path(json.loads(line))
        try:
            darshan = darshan or import_darshan(path)
            answer = _answer(path, darshan)
        except TraceError as err:
            answer = {"error": err.problem}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
