"""NVMe target driver that writes the kernel's nvmet configfs tree directly."""

from __future__ import annotations

import logging
from collections.abc import Callable

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.fsops import RealFs
from storalloc.server.backends.target import Namespace, TargetPort, Undo

log = logging.getLogger("storalloc.server.backends")

DEFAULT_ROOT = "/sys/kernel/config/nvmet"
NSID = 1  # one namespace per export


class ConfigfsDriver:
    """Manages subsystems, hosts and ports under `root` (default /sys/kernel/config/nvmet).

    The kernel creates attribute files and default groups (namespaces/, allowed_hosts/,
    ports/N/subsystems/) by itself on mkdir, so this driver only ever mkdirs objects, writes
    existing attributes and makes symlinks.
    """

    name = "configfs"

    def __init__(
        self, port: TargetPort, *, root: str = DEFAULT_ROOT, fs: RealFs | None = None
    ) -> None:
        self.port = port
        # Every address this node's disks listen on: an empty port at one of them is ours to
        # remove (disks may listen apart, see port_for_disk).
        self.own_ports: list[TargetPort] = [port]
        self.root = root.rstrip("/")
        self.fs = fs or RealFs()

    # -- paths ---------------------------------------------------------------------------------
    def _subsys(self, nqn: str) -> str:
        return f"{self.root}/subsystems/{nqn}"

    def _host(self, hostnqn: str) -> str:
        return f"{self.root}/hosts/{hostnqn}"

    def _port(self, portid: str) -> str:
        return f"{self.root}/ports/{portid}"

    def _op(self, what: str, fn: Callable[..., object], *args: str) -> None:
        try:
            fn(*args)
        except OSError as exc:
            raise BackendError(f"configfs: cannot {what} ({args[-1]}): {exc}") from exc

    # -- interface -----------------------------------------------------------------------------
    def check(self) -> None:
        """Fail clearly when nvmet is not loaded (configfs root or its groups missing)."""
        if self.fs.dry_run:
            return  # dry runs show the commands even on a machine without nvmet
        if not self.fs.is_dir(f"{self.root}/subsystems"):
            raise BackendError(
                f"{self.root} not found: the NVMe target is not available. Load the modules "
                f"with `modprobe nvmet nvmet-{self.port.trtype}` and make sure configfs is "
                "mounted (`mount -t configfs none /sys/kernel/config`)"
            )

    def list_nqns(self) -> list[str]:
        """Subsystem directories under `root/subsystems`."""
        return self.fs.listdir(f"{self.root}/subsystems")

    def export(
        self,
        nqn: str,
        ns: Namespace,
        hostnqn: str | None,
        *,
        allow_any_host: bool,
        dhchap_key: str | None = None,
        port: TargetPort | None = None,
    ) -> str | None:
        """Create the subsystem, namespace, host ACL and port link; roll back on failure.

        With `dhchap_key`, the host must authenticate (DH-HMAC-CHAP). The kernel keys hosts,
        not host/subsystem pairs, so a host entry that already has a key (another live lease
        of the same host NQN) keeps it; the key in force is returned.
        """
        self.check()
        sub = self._subsys(nqn)
        if self.fs.exists(sub):
            raise BackendError(f"configfs: subsystem {nqn} already exists under {self.root}")
        if hostnqn is None and not allow_any_host:
            raise BackendError(f"export {nqn}: no host NQN given and allow_any_host is off")
        undo = Undo()
        try:
            self._op("create subsystem", self.fs.mkdir, sub)
            undo.push(f"remove subsystem {nqn}", lambda: self.fs.rmdir(sub))
            key = self._set_access(sub, hostnqn, allow_any_host, undo, dhchap_key)
            self._add_namespace(sub, ns, undo)
            self._link_port(sub, nqn, undo, port or self.port)
        except BackendError as exc:
            failures = undo.rollback()
            if failures:
                raise BackendError(f"{exc}; rollback incomplete: {'; '.join(failures)}") from exc
            raise
        return key

    def _set_access(
        self, sub: str, hostnqn: str | None, allow_any_host: bool, undo: Undo, key: str | None
    ) -> str | None:
        # The kernel refuses allowed_hosts links while allow_any_host=1, hence either-or.
        if allow_any_host:
            self._op("set allow_any_host", self.fs.write, f"{sub}/attr_allow_any_host", "1")
            return None
        assert hostnqn is not None
        self._op("set allow_any_host", self.fs.write, f"{sub}/attr_allow_any_host", "0")
        host = self._host(hostnqn)
        if not self.fs.exists(host):
            self._op("create host", self.fs.mkdir, host)
            undo.push(f"remove host {hostnqn}", lambda: self._drop_host_if_unused(hostnqn))
        if key is not None:
            key = self._host_key(host, key)
        link = f"{sub}/allowed_hosts/{hostnqn}"
        self._op("allow host", self.fs.symlink, host, link)
        undo.push(f"unlink allowed host {hostnqn}", lambda: self.fs.unlink(link))
        return key

    def _host_key(self, host: str, key: str) -> str:
        attr = f"{host}/dhchap_key"
        if not self.fs.dry_run and not self.fs.exists(attr):
            raise BackendError(
                f"configfs: {attr} does not exist: this kernel has no NVMe in-band "
                "authentication (CONFIG_NVME_TARGET_AUTH); set dhchap: false in the server config"
            )
        current = None if self.fs.dry_run else self.fs.read(attr)
        if current:
            return current  # shared with the host's other live leases; see export()
        self._op("set dhchap_key", self.fs.write, attr, key)
        return key

    def _add_namespace(self, sub: str, ns: Namespace, undo: Undo) -> None:
        nsdir = f"{sub}/namespaces/{NSID}"
        self._op("create namespace", self.fs.mkdir, nsdir)
        undo.push("remove namespace", lambda: self.fs.rmdir(nsdir))
        self._op("set device_path", self.fs.write, f"{nsdir}/device_path", ns.device_path)
        if ns.buffered_io:
            self._op("set buffered_io", self.fs.write, f"{nsdir}/buffered_io", "1")
        self._op("enable namespace", self.fs.write, f"{nsdir}/enable", "1")
        undo.push("disable namespace", lambda: self.fs.write(f"{nsdir}/enable", "0"))

    def _link_port(self, sub: str, nqn: str, undo: Undo, port: TargetPort) -> None:
        portdir = self._find_port(port)
        if portdir is None:
            portdir = self._create_port(undo, port)
        link = f"{portdir}/subsystems/{nqn}"
        self._op("link subsystem to port", self.fs.symlink, sub, link)
        undo.push(f"unlink subsystem from {portdir}", lambda: self.fs.unlink(link))

    def _find_port(self, port: TargetPort) -> str | None:
        """An existing port with `port`'s trtype/traddr/trsvcid (shared by exports)."""
        for portid in self.fs.listdir(f"{self.root}/ports"):
            d = self._port(portid)
            addr = [self.fs.read(f"{d}/addr_{k}") for k in ("trtype", "traddr", "trsvcid")]
            if port.same_address(*addr):
                return d
        return None

    def _create_port(self, undo: Undo, port: TargetPort) -> str:
        used = {int(p) for p in self.fs.listdir(f"{self.root}/ports") if p.isdigit()}
        portid = str(min(set(range(1, len(used) + 2)) - used))
        d = self._port(portid)
        self._op("create port", self.fs.mkdir, d)
        undo.push(f"remove port {portid}", lambda: self.fs.rmdir(d))
        p = port
        for key, value in (
            ("trtype", p.trtype),
            ("adrfam", p.adrfam),
            ("traddr", p.traddr),
            ("trsvcid", p.trsvcid),
        ):
            self._op(f"set port addr_{key}", self.fs.write, f"{d}/addr_{key}", value)
        return d

    def unexport(self, nqn: str) -> list[str]:
        """Tear down in the order the kernel needs; return the exported device paths."""
        self.check()
        self._unlink_ports(nqn)
        sub = self._subsys(nqn)
        if not self.fs.is_dir(sub):
            return []
        paths = []
        for nsid in self.fs.listdir(f"{sub}/namespaces"):
            nsdir = f"{sub}/namespaces/{nsid}"
            path = self.fs.read(f"{nsdir}/device_path")
            if path:
                paths.append(path)
            self._op("disable namespace", self.fs.write, f"{nsdir}/enable", "0")
            self._op("remove namespace", self.fs.rmdir, nsdir)
        hosts = self.fs.listdir(f"{sub}/allowed_hosts")
        for hostnqn in hosts:
            self._op("unlink allowed host", self.fs.unlink, f"{sub}/allowed_hosts/{hostnqn}")
        self._op("remove subsystem", self.fs.rmdir, sub)
        for hostnqn in hosts:
            self._drop_host_if_unused(hostnqn)
        return paths

    def _unlink_ports(self, nqn: str) -> None:
        for portid in self.fs.listdir(f"{self.root}/ports"):
            d = self._port(portid)
            link = f"{d}/subsystems/{nqn}"
            if not self.fs.exists(link):
                continue
            self._op("unlink subsystem from port", self.fs.unlink, link)
            addr = [self.fs.read(f"{d}/addr_{k}") for k in ("trtype", "traddr", "trsvcid")]
            ours = any(p.same_address(*addr) for p in self.own_ports)
            if not self.fs.listdir(f"{d}/subsystems") and ours:
                self._drop_port(d)

    def _drop_port(self, portdir: str) -> None:
        # An empty port of ours only keeps a listening socket open; an admin's referrals
        # would make rmdir fail, and then the port simply stays.
        try:
            self.fs.rmdir(portdir)
        except OSError as exc:
            log.info("configfs: keeping port %s: %s", portdir, exc)

    def supports_dhchap(self) -> bool:
        """True if this kernel's nvmet has in-band authentication (host entries get a
        `dhchap_key` attribute: CONFIG_NVME_TARGET_AUTH, Linux >= 6.0 where distributions
        enable it; Debian 12's 6.1 does not)."""
        self.check()
        if self.fs.dry_run:
            return True  # show the writes a real run would make
        hosts = self.fs.listdir(f"{self.root}/hosts")
        if hosts:
            return self.fs.exists(f"{self._host(hosts[0])}/dhchap_key")
        probe = self._host("nqn.2014-08.io.storalloc:probe")
        self._op("create probe host", self.fs.mkdir, probe)
        try:
            return self.fs.exists(f"{probe}/dhchap_key")
        finally:
            self._op("remove probe host", self.fs.rmdir, probe)

    def clean_stale_hosts(self) -> list[str]:
        """Remove host entries no subsystem allows (crash leftovers); return their NQNs.

        Such an entry grants nothing, but a stale `dhchap_key` in it would be reused by the
        next lease of that host instead of a fresh one.
        """
        self.check()
        gone = []
        for hostnqn in self.fs.listdir(f"{self.root}/hosts"):
            if not self._host_used(hostnqn):
                self._op("remove host", self.fs.rmdir, self._host(hostnqn))
                gone.append(hostnqn)
        return gone

    def _host_used(self, hostnqn: str) -> bool:
        return any(
            self.fs.exists(f"{self._subsys(nqn)}/allowed_hosts/{hostnqn}")
            for nqn in self.list_nqns()
        )

    def _drop_host_if_unused(self, hostnqn: str) -> None:
        if self._host_used(hostnqn):
            return
        host = self._host(hostnqn)
        if self.fs.exists(host):
            self._op("remove host", self.fs.rmdir, host)
