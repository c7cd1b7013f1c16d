"""NVMe target driver for sites that keep their target in nvmetcli's saved file.

Each lease is created and removed through configfs, touching only its own subsystem, host
entry and port link (see ConfigfsDriver); then `nvmetcli save FILE` records the whole target,
so the distribution's nvmet unit (`nvmetcli restore` at boot) brings it back after a reboot.

Why not `nvmetcli restore` of a merged file, as before: a released nvmetcli (0.8) has no
incremental commands, and `restore` first deletes every port, subsystem and host. That stalled
other tenants' I/O on every change (10 s measured), lost every export when one namespace could
not be recreated, and reset admin settings nvmetcli does not save (buffered_io).
"""

from __future__ import annotations

import logging

from storalloc.server.backends.base import BackendError
from storalloc.server.backends.configfs import DEFAULT_ROOT, ConfigfsDriver
from storalloc.server.backends.fsops import RealFs
from storalloc.server.backends.target import Namespace, TargetPort
from storalloc.server.runner import CommandError, Runner

log = logging.getLogger("storalloc.server.backends")

#: Where the nvmet systemd unit of Debian/RHEL restores from.
DEFAULT_SAVE_FILE = "/etc/nvmet/config.json"


class NvmetcliDriver(ConfigfsDriver):
    """configfs changes per lease, then `nvmetcli save` for persistence across reboots."""

    name = "nvmetcli"

    def __init__(
        self,
        port: TargetPort,
        *,
        runner: Runner,
        root: str = DEFAULT_ROOT,
        fs: RealFs | None = None,
        command: str = "nvmetcli",
        save_file: str = DEFAULT_SAVE_FILE,
    ) -> None:
        super().__init__(port, root=root, fs=fs)
        self.runner = runner
        self.command = command
        self.save_file = save_file

    def check(self) -> None:
        """Fail clearly if nvmetcli is not installed or nvmet is not loaded."""
        if not self.runner.dry_run and self.runner.which(self.command) is None:
            raise BackendError(
                f"{self.command} not found on PATH: install nvmetcli or set driver: configfs"
            )
        super().check()

    def save(self) -> None:
        """`nvmetcli save FILE`. A failure is logged, not raised: the export itself is live,
        and the server's own record re-creates it after a reboot anyway."""
        try:
            self.runner.run([self.command, "save", self.save_file])
        except CommandError as exc:
            log.error("nvmetcli could not save the target to %s: %s", self.save_file, exc)

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
        """As ConfigfsDriver.export, then save."""
        key = super().export(nqn, ns, hostnqn, allow_any_host=allow_any_host,
                             dhchap_key=dhchap_key, port=port)
        self.save()
        return key

    def unexport(self, nqn: str) -> list[str]:
        """As ConfigfsDriver.unexport, then save (only if something was removed)."""
        existed = self.fs.is_dir(self._subsys(nqn))
        paths = super().unexport(nqn)
        if existed:
            self.save()
        return paths
