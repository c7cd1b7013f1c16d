"""The real NVMe-over-Fabrics backend: carve a backing store, export it through nvmet."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

from storalloc.server.backends.base import (
    DEFAULT_NQN_PREFIX,
    BackendError,
    ExportSpec,
    export_id_from_nqn,
    is_export_id,
    make_nqn,
    validate_nqn_prefix,
    validate_spec,
)
from storalloc.server.backends.carving import Carver, LvmCarver, carver_for
from storalloc.server.backends.configfs import DEFAULT_ROOT
from storalloc.server.backends.dhchap import generate_secret
from storalloc.server.backends.fsops import RealFs
from storalloc.server.backends.nvmeof_setup import (
    DRIVERS,  # noqa: F401  (re-exported: callers import it, and select_driver, from here)
    select_driver,
    state_dir_for,
    tools_for,
)
from storalloc.server.backends.record import ExportBook, ExportRecord
from storalloc.server.backends.target import (
    Namespace,
    TargetDriver,
    TargetPort,
    port_for_disk,
    port_from_node,
)
from storalloc.server.backends.wipe import WipeJob, Wiper
from storalloc.server.runner import Runner

log = logging.getLogger("storalloc.server.backends")


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
        dhchap: bool | str = False,
        ctrl_loss_tmo: int | None = None,
        wiper: Wiper | None = None,
        book: ExportBook | None = None,
        lvm_devices: bool = False,
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
        self.dhchap = dhchap
        self.ctrl_loss_tmo = ctrl_loss_tmo
        self.wiper = wiper  # None: LVs are removed without zeroing (tests of other parts)
        self.book = book or ExportBook(None)
        self.lvm_devices = lvm_devices
        self.disabled: set[int] = set()  # indexes of disks that failed disk_problems()
        self.port = port_from_node(node)
        self.driver_ports()
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
        runner, fs = tools_for(server_cfg, dry_run=dry_run, emit=emit)
        port = port_from_node(node)
        name = driver or getattr(server_cfg, "driver", None) or "auto"
        if configfs_root == DEFAULT_ROOT:  # an explicit argument (tests) wins over the config
            configfs_root = getattr(server_cfg, "configfs_root", None) or DEFAULT_ROOT
        wipe = bool(getattr(server_cfg, "wipe", True))
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
            dhchap=getattr(server_cfg, "dhchap", False),
            ctrl_loss_tmo=getattr(server_cfg, "ctrl_loss_tmo", None),
            wiper=Wiper(runner, float(getattr(server_cfg, "wipe_timeout", 3600))) if wipe else None,
            book=ExportBook(state_dir_for(server_cfg, dry_run=dry_run)),
            lvm_devices=bool(getattr(server_cfg, "lvm_devices", False)),
        )

    def driver_ports(self) -> None:
        """Tell the driver every address our disks listen on (for removing empty ports)."""
        ports = [self.port] + [port_for_disk(self.node, d) for d in self.node.disks]
        if hasattr(self.driver, "own_ports"):
            self.driver.own_ports = list(dict.fromkeys(ports))

    def _carver(self, disk: Any) -> Carver:
        return carver_for(disk, runner=self.runner, fs=self.fs, dev_root=self.dev_root,
                          lvm_devices=self.lvm_devices)  # fmt: skip

    def check(self) -> None:
        """Raise BackendError (naming the fix) if the target cannot be driven here."""
        self.driver.check()
        lvm = any(isinstance(c, LvmCarver) for c in self.carvers)
        missing = not self.runner.dry_run and self.runner.which("blkdiscard") is None
        if self.wiper and lvm and missing:
            raise BackendError(
                "blkdiscard not found on PATH: it zeroes released LVs before reuse "
                "(install util-linux), or set wipe: false if the disks zero themselves"
            )

    def disk_problems(self) -> dict[int, str]:
        """{config index: why} for each disk that cannot be used as configured."""
        from storalloc.server.backends.disks import disk_problems

        problems = disk_problems(self.node.disks, self.carvers, self.runner)
        # Disabled disks are left alone from now on (listing, teardown of unknown exports).
        self.disabled = set(problems)
        return problems

    def nqn_for(self, export_id: str) -> str:
        """The NQN this node gives `export_id`."""
        return make_nqn(self.nqn_prefix, self.hostname, export_id)

    def create(self, spec: ExportSpec) -> dict[str, object]:
        """Carve `spec.size_gb` on `spec.disk`, export it to `spec.hostnqn` only."""
        validate_spec(spec, self.nqn_prefix, self.hostname, self.allow_any_host)
        self.check()
        carver = self._carver(spec.disk)
        path = self._carve(carver, spec)
        buffered = carver.needs_buffered_io() if self.buffered_io is None else self.buffered_io
        wanted = generate_secret() if spec.hostnqn and self._use_dhchap() else None
        rec = ExportRecord(spec.export_id, spec.nqn, spec.disk_index, path, spec.hostnqn,
                           buffered, spec.size_gb)  # fmt: skip
        try:
            key = self._export(rec, wanted)
        except BackendError as exc:
            self._undo_create(carver, spec, path, exc, exported=False)
        port = self._port_of(spec.disk_index)
        try:
            self.book.put(replace(rec, dhchap_key=key))
        except BackendError as exc:
            self._undo_create(carver, spec, path, exc, exported=True)
        log.info("exported %s (%s, %g GB) as %s", spec.export_id, path, spec.size_gb, spec.nqn)
        return self.connection(spec.nqn, key, port)

    def _use_dhchap(self) -> bool:
        if self.dhchap == "auto":
            # Decided once: the kernel does not change under a running server.
            self.dhchap = self.driver.supports_dhchap()
            if not self.dhchap:
                log.warning("this kernel's NVMe target cannot authenticate hosts "
                            "(no CONFIG_NVME_TARGET_AUTH): exports are open to their host NQN "
                            "without a secret")  # fmt: skip
        return bool(self.dhchap)

    def _carve(self, carver: Carver, spec: ExportSpec) -> str:
        try:
            return carver.create(spec.export_id, spec.size_gb)
        except BackendError as exc:
            group = getattr(carver, "vg", None)
            busy = self.wiper is not None and group and self.wiper.pending(group)
            if not busy or "insufficient free space" not in str(exc):
                raise
        # Space being wiped is still allocated: wait for it rather than fail the lease.
        log.info("waiting for %d wipe(s) in VG %s to free space", busy, group)
        assert self.wiper is not None
        self.wiper.wait(group, timeout=self.wiper.timeout)
        return carver.create(spec.export_id, spec.size_gb)

    def _export(self, rec: ExportRecord, key: str | None) -> str | None:
        ns = Namespace(rec.device_path, buffered_io=rec.buffered_io)
        return self.driver.export(rec.nqn, ns, rec.hostnqn, allow_any_host=self.allow_any_host,
                                  dhchap_key=key, port=self._port_of(rec.disk_index))  # fmt: skip

    def _port_of(self, disk_index: int) -> TargetPort:
        disks = self.node.disks
        if 0 <= disk_index < len(disks):
            return port_for_disk(self.node, disks[disk_index])
        return self.port

    def _undo_create(
        self, carver: Carver, spec: ExportSpec, path: str, exc: Exception, *, exported: bool
    ) -> NoReturn:
        try:
            if exported:  # an export nobody can find again after a restart must not stay
                self.driver.unexport(spec.nqn)
            carver.remove(spec.export_id)  # never written to by a tenant: no wipe needed
        except BackendError as again:
            raise BackendError(f"{exc}; freeing {path} failed too: {again}") from exc
        raise exc

    def connection(
        self, nqn: str, key: str | None, port: TargetPort | None = None
    ) -> dict[str, object]:
        """What the client needs to connect (the secret goes to the job's owner only)."""
        p = port or self.port
        conn: dict[str, object] = {"type": "nvme", "nqn": nqn, "trtype": p.trtype,
                                   "traddr": p.traddr, "trsvcid": p.trsvcid}  # fmt: skip
        if key:
            conn["dhchap_secret"] = key
        if self.ctrl_loss_tmo is not None:
            conn["ctrl_loss_tmo"] = int(self.ctrl_loss_tmo)
        return conn

    def delete(self, export_id: str) -> None:
        """Unexport (port link, namespace, host ACL, subsystem, host), then wipe and free."""
        try:
            nqn = self.nqn_for(export_id)
        except ValueError as exc:
            raise BackendError(str(exc)) from exc
        paths = self.driver.unexport(nqn)
        self.book.drop(export_id)
        for carver in self._carvers_holding(export_id, paths):
            self._free(carver, export_id)
        log.info("deleted export %s", export_id)

    def _free(self, carver: Carver, export_id: str) -> None:
        if self.wiper is None or not isinstance(carver, LvmCarver):
            carver.remove(export_id)  # files: unlinked, and a new file is sparse (reads zeroes)
            return
        if export_id not in carver.list_ids():
            return
        device = carver.activate(export_id)
        self.wiper.submit(WipeJob(carver.vg, device, lambda: carver.remove(export_id)))

    def _carvers_holding(self, export_id: str, paths: list[str]) -> list[Carver]:
        unique = self._unique_carvers()
        known = [c for c in unique if c.path_for(export_id) in paths]
        # Without a subsystem to tell us (half-made or half-deleted export), ask every disk.
        return known or unique

    def _unique_carvers(self) -> list[Carver]:
        seen, out = set(), []
        for i, c in enumerate(self.carvers):
            if i in self.disabled:
                continue
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

    def restore(self, hold: set[str]) -> list[str]:
        """Re-export held exports whose subsystem is gone (see reexport.restore)."""
        from storalloc.server.backends.reexport import restore

        return restore(self, hold)

    def clean_stale_hosts(self) -> list[str]:
        """Remove nvmet host entries that no subsystem allows (crash leftovers)."""
        return self.driver.clean_stale_hosts()
