"""The real NVMe-over-Fabrics backend: carve a backing store, export it through nvmet."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from storalloc.server.backends.base import (
    DEFAULT_NQN_PREFIX,
    BackendError,
    ExportSpec,
    export_id_from_nqn,
    is_export_id,
    make_nqn,
    validate_export_id,
    validate_hostnqn,
    validate_nqn_prefix,
)
from storalloc.server.backends.carving import Carver, carver_for
from storalloc.server.backends.configfs import DEFAULT_ROOT, ConfigfsDriver
from storalloc.server.backends.fsops import DryRunFs, RealFs
from storalloc.server.backends.nvmetcli import NvmetcliDriver
from storalloc.server.backends.target import Namespace, TargetDriver, TargetPort
from storalloc.server.runner import DryRunRunner, Runner

log = logging.getLogger("storalloc.server.backends")

DRIVERS = ("auto", "nvmetcli", "configfs")


def port_from_node(node: Any) -> TargetPort:
    """The nvmet port of a NodeConfig-like object (ipv4 + transport{trtype,trsvcid,adrfam})."""
    t = getattr(node, "transport", None)
    return TargetPort(
        trtype=str(getattr(t, "trtype", None) or "tcp"),
        adrfam=str(getattr(t, "adrfam", None) or "ipv4"),
        traddr=str(getattr(node, "ipv4", None) or "127.0.0.1"),
        trsvcid=str(getattr(t, "trsvcid", None) or 4420),
    )


def select_driver(
    name: str, port: TargetPort, *, runner: Runner, fs: RealFs, root: str = DEFAULT_ROOT
) -> TargetDriver:
    """`auto` is nvmetcli when it is on PATH, configfs otherwise."""
    if name == "auto":
        name = "nvmetcli" if runner.which("nvmetcli") else "configfs"
    if name == "nvmetcli":
        return NvmetcliDriver(port, runner=runner)
    if name == "configfs":
        return ConfigfsDriver(port, root=root, fs=fs)
    raise BackendError(f"driver: expected one of {', '.join(DRIVERS)}, got {name!r}")


class NvmeofBackend:
    """Backend of one storage node: per-export LV or file, one subsystem per export."""

    def __init__(
        self,
        node: Any,
        *,
        driver: TargetDriver,
        runner: Runner,
        fs: RealFs,
        hostname: str | None = None,
        nqn_prefix: str = DEFAULT_NQN_PREFIX,
        allow_any_host: bool = False,
        buffered_io: bool | None = None,
        dev_root: str = "/dev",
    ) -> None:
        self.node = node
        self.driver = driver
        self.runner = runner
        self.fs = fs
        self.hostname = hostname or node.hostname
        self.nqn_prefix = validate_nqn_prefix(nqn_prefix)
        self.allow_any_host = allow_any_host
        self.buffered_io = buffered_io  # None: only where the filesystem needs it (tmpfs)
        self.dev_root = dev_root
        self.port = port_from_node(node)
        # Built up front so a misconfigured disk is reported when the server starts.
        self.carvers = [self._carver(d) for d in node.disks]

    @classmethod
    def from_config(
        cls,
        server_cfg: Any,
        node: Any,
        *,
        dry_run: bool = False,
        driver: str | None = None,
        emit: Callable[[str], None] = print,
        configfs_root: str = DEFAULT_ROOT,
        dev_root: str = "/dev",
    ) -> NvmeofBackend:
        """Build from a ServerConfig-like and a NodeConfig-like object."""
        if dry_run:
            runner: Runner = DryRunRunner(emit)
            fs: RealFs = DryRunFs(emit)
        else:
            runner = Runner(timeout=float(getattr(server_cfg, "command_timeout", 30)))
            fs = RealFs()
        port = port_from_node(node)
        name = driver or getattr(server_cfg, "driver", None) or "auto"
        return cls(
            node,
            driver=select_driver(name, port, runner=runner, fs=fs, root=configfs_root),
            runner=runner,
            fs=fs,
            # NQNs use the node's hostname (as storalloc.server.agent does), never the server's
            # registration name, so list_exports finds them whatever the name.
            hostname=node.hostname,
            nqn_prefix=getattr(server_cfg, "nqn_prefix", None) or DEFAULT_NQN_PREFIX,
            allow_any_host=bool(getattr(server_cfg, "allow_any_host", False)),
            dev_root=dev_root,
        )

    def _carver(self, disk: Any) -> Carver:
        return carver_for(disk, runner=self.runner, fs=self.fs, dev_root=self.dev_root)

    def check(self) -> None:
        """Raise BackendError (naming the fix) if the target cannot be driven here."""
        self.driver.check()

    def nqn_for(self, export_id: str) -> str:
        """The NQN this node gives `export_id`."""
        return make_nqn(self.nqn_prefix, self.hostname, export_id)

    def create(self, spec: ExportSpec) -> dict[str, object]:
        """Carve `spec.size_gb` on `spec.disk`, export it to `spec.hostnqn` only."""
        try:
            validate_export_id(spec.export_id)
            if spec.hostnqn is not None:
                validate_hostnqn(spec.hostnqn)
        except ValueError as exc:
            raise BackendError(str(exc)) from exc
        if export_id_from_nqn(spec.nqn, self.nqn_prefix, self.hostname) != spec.export_id:
            raise BackendError(
                f"NQN {spec.nqn!r} was not made by make_nqn({self.nqn_prefix!r}, "
                f"{self.hostname!r}, {spec.export_id!r}): list_exports/delete would miss it"
            )
        if spec.hostnqn is None and not self.allow_any_host:
            raise BackendError(
                f"export {spec.export_id}: the client sent no host NQN and allow_any_host is "
                "off; pass --hostnqn or create /etc/nvme/hostnqn on the client"
            )
        self.driver.check()
        carver = self._carver(spec.disk)
        path = carver.create(spec.export_id, spec.size_gb)
        buffered = carver.needs_buffered_io() if self.buffered_io is None else self.buffered_io
        try:
            self.driver.export(
                spec.nqn,
                Namespace(path, buffered_io=buffered),
                spec.hostnqn,
                allow_any_host=self.allow_any_host,
            )
        except BackendError as exc:
            try:
                carver.remove(spec.export_id)
            except BackendError as again:
                raise BackendError(f"{exc}; freeing {path} failed too: {again}") from exc
            raise
        log.info("exported %s (%s, %g GB) as %s", spec.export_id, path, spec.size_gb, spec.nqn)
        p = self.port
        return {
            "type": "nvme",
            "nqn": spec.nqn,
            "trtype": p.trtype,
            "traddr": p.traddr,
            "trsvcid": p.trsvcid,
        }

    def delete(self, export_id: str) -> None:
        """Unexport (port link, namespace, host ACL, subsystem, host) then free the space."""
        try:
            nqn = self.nqn_for(export_id)
        except ValueError as exc:
            raise BackendError(str(exc)) from exc
        paths = self.driver.unexport(nqn)
        for carver in self._carvers_holding(export_id, paths):
            carver.remove(export_id)
        log.info("deleted export %s", export_id)

    def _carvers_holding(self, export_id: str, paths: list[str]) -> list[Carver]:
        unique = self._unique_carvers()
        known = [c for c in unique if c.path_for(export_id) in paths]
        # Without a subsystem to tell us (half-made or half-deleted export), ask every disk.
        return known or unique

    def _unique_carvers(self) -> list[Carver]:
        seen, out = set(), []
        for c in self.carvers:
            key = (c.kind, c.path_for("x"))
            if key not in seen:
                seen.add(key)
                out.append(c)
        return out

    def list_exports(self) -> list[str]:
        """Our export ids: subsystems with our NQN prefix plus orphaned backing stores.

        Only ids shaped like `export_id_for` ones are reported, so callers can parse them.
        """
        self.driver.check()
        nqns = self.driver.list_nqns()
        ids = {export_id_from_nqn(n, self.nqn_prefix, self.hostname) for n in nqns}
        for carver in self._unique_carvers():
            ids.update(carver.list_ids())
        return sorted(i for i in ids if i and is_export_id(i))
