"""The configuration of each role as frozen dataclasses, with the documented defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

# ---- dataclasses (their defaults are the documented defaults) -----------------


@dataclass(frozen=True, slots=True)
class OrchestratorConfig:
    """Settings of the orchestrator (``config/orchestrator/config.yml``)."""

    client_endpoint: str = "tcp://127.0.0.1:35000"
    server_endpoint: str = "tcp://127.0.0.1:35001"
    sched_strategy: str = "worst_case"
    strategy_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    seed: int = 0
    block_size: float = 0.0
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 15.0
    admins: tuple[str, ...] = ("root",)
    max_request_gb: float = 1e9
    audit_log: str | None = None  # None: audit.log in the state directory; "-": stderr
    max_setup_attempts: int = 3
    setup_retry_backoff: float = 5.0
    lease_warning: float = 300.0
    # Trust and durability (doc/security.md); null paths mean defaults under state_dir.
    state_dir: str | None = None  # null: /var/lib/storalloc (root), ~/.local/state/storalloc
    database: str | None = None  # null: <state_dir>/storalloc.db
    keys: str | None = None  # directory of the orchestrator's CURVE key pair (created)
    server_keys: str = "any"  # allow-list directory of servers' public keys, or any
    encrypt_clients: bool = False  # CURVE (encryption) on the client socket too
    user_auth: str = "none"  # how users are identified: munge, or none (laptop demo only)
    munge_socket: str | None = None  # null: munged's default socket
    reply_queue: int = 10_000  # replies queued per peer; a peer over this is dropped
    metrics: str | None = None  # HOST:PORT of the Prometheus endpoint; None = off
    metrics_interval: float = 5.0  # seconds between refreshes of the capacity gauges
    source: str | None = field(default=None, compare=False)  # file it was loaded from


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Settings of a storage server (``config/server/config.yml``)."""

    orchestrator: str = "tcp://127.0.0.1:35001"
    name: str | None = None
    node: int = 0
    driver: str = "auto"
    allow_any_host: bool = False
    nqn_prefix: str = "nqn.2026-11.io.storalloc"
    heartbeat_interval: float = 5.0
    command_timeout: float = 30.0
    keys: str | None = None  # directory of this server's CURVE key pair (created)
    orchestrator_key: str | None = None  # null: the local orchestrator's default key
    # NVMe-oF hardening (doc/nvmeof.md): record of exports, per-lease secrets, wipe, timeouts.
    state_dir: str | None = None  # null: <the host's state directory>/server
    dhchap: bool | str = "auto"
    ctrl_loss_tmo: int | None = 60
    wipe: bool = True
    wipe_timeout: float = 3600.0
    configfs_root: str = "/sys/kernel/config/nvmet"
    lvm_devices: bool = False
    source: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Settings of the client (``config/client/config.yml``)."""

    orchestrator: str = "tcp://127.0.0.1:35000"
    timeout: float = 5.0
    hostnqn_file: str = "/etc/nvme/hostnqn"
    user_auth: str = "none"  # munge: send a MUNGE credential with each request
    munge_socket: str | None = None
    orchestrator_key: str | None = None  # the orchestrator's public key: CURVE on; null: off
    keepalive: float = 10.0  # a waiting client pings the orchestrator this often
    retry: float = 20.0  # and gives up once it has been silent this long
    source: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """NVMe-oF port settings of a storage node."""

    trtype: str = "tcp"
    trsvcid: int = 4420
    adrfam: str = "ipv4"


def default_vg(path: str) -> str:
    """Volume group name used when a disk sets none: ``storalloc-<basename(path)>``."""
    # by-path names contain ':' which LVM refuses in a VG name.
    return "storalloc-" + re.sub(r"[^A-Za-z0-9+_.-]", "-", PurePosixPath(path).name)


@dataclass(frozen=True, slots=True)
class DiskConfig:
    """One disk of a storage node; sizes in GB, bandwidths in GBps."""

    model: str
    capacity: float
    write_bw: float
    read_bw: float
    path: str
    carving: str = "lvm"
    vg: str = ""  # "" (or None) = default_vg(path), filled in at construction
    mountpoint: str | None = None
    # Where this disk's exports listen, when not the node's ipv4 / transport.trsvcid.
    traddr: str | None = None
    trsvcid: int | None = None

    def __post_init__(self) -> None:
        if not self.vg:
            object.__setattr__(self, "vg", default_vg(self.path))


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """One storage node: its address, network and disks."""

    hostname: str
    ipv4: str
    network: str
    network_bw: float
    transport: TransportConfig
    disks: tuple[DiskConfig, ...]


@dataclass(frozen=True, slots=True)
class SystemConfig:
    """A system YAML: one or more storage nodes."""

    nodes: tuple[NodeConfig, ...]
    source: str | None = field(default=None, compare=False)
