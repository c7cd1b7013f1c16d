"""No-op backend: hands out NQNs, touches nothing, says what a real teardown would do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storalloc.server.backends.base import (
    DEFAULT_NQN_PREFIX,
    BackendError,
    ExportSpec,
    make_nqn,
    validate_export_id,
    validate_nqn_prefix,
)


class SimulatedBackend:
    """Backend for `server.py --simulate`: exports exist only in memory."""

    def __init__(
        self,
        hostname: str,
        nqn_prefix: str = DEFAULT_NQN_PREFIX,
        emit: Callable[[str], None] = print,
    ) -> None:
        self.hostname = hostname
        self.nqn_prefix = validate_nqn_prefix(nqn_prefix)
        self.emit = emit
        self._exports: dict[str, str] = {}

    @classmethod
    def from_config(cls, server_cfg: Any, node: Any, *, emit: Callable[[str], None] = print,
                    **_real_only: Any) -> SimulatedBackend:  # fmt: skip
        """As every backend is built (storalloc.registry.BACKENDS); the options of real
        backends (dry_run, driver, configfs_root) do not apply."""
        prefix = getattr(server_cfg, "nqn_prefix", None) or DEFAULT_NQN_PREFIX
        return cls(node.hostname, prefix, emit=emit)

    def create(self, spec: ExportSpec) -> dict[str, object]:
        """Remember the export and return `{"type": "nvme", "nqn": ...}`; prints nothing."""
        try:
            validate_export_id(spec.export_id)
        except ValueError as exc:
            raise BackendError(str(exc)) from exc
        if spec.export_id in self._exports:
            raise BackendError(f"simulated export {spec.export_id} already exists")
        nqn = spec.nqn or make_nqn(self.nqn_prefix, self.hostname, spec.export_id)
        self._exports[spec.export_id] = nqn
        return {"type": "nvme", "nqn": nqn}

    def delete(self, export_id: str) -> None:
        """Forget the export and say what would have been torn down (silent if unknown)."""
        nqn = self._exports.pop(export_id, None)
        if nqn is not None:
            self.emit(f"would tear down {export_id} ({nqn})")

    def list_exports(self) -> list[str]:
        """Ids created since this process started (nothing survives a restart)."""
        return sorted(self._exports)
