"""Load the YAML configuration files into validated, frozen dataclasses."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from storalloc.config.checks import (
    ABSOLUTE_PATH,
    BOOLEAN,
    HOST_NAME,
    IPV4,
    KEYWORDS,
    NON_EMPTY,
    NQN_PREFIX,
    TEXT,
    USER_PATH,
    VG_NAME,
    endpoint,
    integer,
    non_negative,
    one_of,
    positive,
    strategy,
)
from storalloc.config.schema import (
    ConfigError,
    Invalid,
    Leaf,
    ListOf,
    Nullable,
    Record,
    expected,
    join,
    read_yaml,
    reject_duplicates,
    show,
)

__all__ = [
    "ClientConfig",
    "ConfigError",
    "DiskConfig",
    "NodeConfig",
    "OrchestratorConfig",
    "ServerConfig",
    "SystemConfig",
    "TransportConfig",
    "find_config",
    "load_client_config",
    "load_orchestrator_config",
    "load_server_config",
    "load_system",
    "parse_system",
    "select_node",
]

PathLike = str | os.PathLike[str]


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


# ---- cross-key checks ---------------------------------------------------------


def _check_heartbeat(values: dict[str, Any], key: str) -> None:
    interval, timeout = values["heartbeat_interval"], values["heartbeat_timeout"]
    if timeout <= interval:
        what = f"a number of seconds greater than heartbeat_interval ({interval:g})"
        raise expected(join(key, "heartbeat_timeout"), what, timeout)


def _check_orchestrator(values: dict[str, Any], key: str) -> None:
    _check_heartbeat(values, key)
    if values["client_endpoint"] == values["server_endpoint"]:
        what = "an endpoint different from client_endpoint"
        raise expected(join(key, "server_endpoint"), what, values["server_endpoint"])


def _check_disk(values: dict[str, Any], key: str) -> None:
    if values["carving"] == "file" and values["mountpoint"] is None:
        what = "an absolute path (required when carving is file)"
        raise expected(join(key, "mountpoint"), what, None)


def _check_node(values: dict[str, Any], key: str) -> None:
    disks = join(key, "disks")
    reject_duplicates(values["disks"], "path", disks)
    reject_duplicates(values["disks"], "vg", disks, keep=lambda d: d.carving == "lvm")


# ---- schemas --------------------------------------------------------------------

_SECONDS = positive("seconds")
_AUTH = one_of("munge", "none")
_ALLOW = Leaf(
    "any, or an absolute directory path (allow-list of server public keys)",
    lambda v: v == "any" or USER_PATH.test(v),
)

_HOST_PORT_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})")


def _is_host_port(value: object) -> bool:
    match = _HOST_PORT_RE.fullmatch(value) if isinstance(value, str) else None
    return match is not None and int(match["port"]) < 65536  # 0: any free port


HOST_PORT = Leaf("HOST:PORT such as 127.0.0.1:9750", _is_host_port)


def _orchestrator_schema(strategy_names: Collection[str] | None) -> Record:
    return Record(
        OrchestratorConfig,
        {
            "client_endpoint": endpoint(bind=True),
            "server_endpoint": endpoint(bind=True),
            "sched_strategy": strategy(strategy_names),
            "strategy_options": KEYWORDS,
            "seed": integer(),
            "block_size": non_negative("GB"),
            "heartbeat_interval": _SECONDS,
            "heartbeat_timeout": _SECONDS,
            "admins": ListOf(NON_EMPTY, "a list of user names"),
            "max_request_gb": positive("GB"),
            "audit_log": Nullable(NON_EMPTY),
            "max_setup_attempts": integer(1, 100, "an integer from 1 to 100"),
            "setup_retry_backoff": _SECONDS,
            "lease_warning": non_negative("seconds"),
            "state_dir": Nullable(USER_PATH),
            "database": Nullable(USER_PATH),
            "keys": Nullable(USER_PATH),
            "server_keys": _ALLOW,
            "encrypt_clients": BOOLEAN,
            "user_auth": _AUTH,
            "munge_socket": Nullable(USER_PATH),
            "reply_queue": integer(low=1, what="a number of messages >= 1"),
            "metrics": Nullable(HOST_PORT),
            "metrics_interval": _SECONDS,
        },
        finish=_check_orchestrator,
    )


_SERVER = Record(
    ServerConfig,
    {
        "orchestrator": endpoint(bind=False),
        "name": Nullable(HOST_NAME),
        "node": integer(low=0, what="a node index >= 0"),
        "driver": one_of("auto", "nvmetcli", "configfs"),
        "allow_any_host": BOOLEAN,
        "nqn_prefix": NQN_PREFIX,
        "heartbeat_interval": _SECONDS,
        "command_timeout": _SECONDS,
        "keys": Nullable(USER_PATH),
        "orchestrator_key": Nullable(USER_PATH),
        "state_dir": Nullable(ABSOLUTE_PATH),
        "dhchap": Leaf("true, false or auto", lambda v: isinstance(v, bool) or v == "auto"),
        "ctrl_loss_tmo": Nullable(integer(low=-1, what="seconds (an integer, -1 = never)")),
        "wipe": BOOLEAN,
        "wipe_timeout": _SECONDS,
        "configfs_root": ABSOLUTE_PATH,
        "lvm_devices": BOOLEAN,
    },
)

_CLIENT = Record(
    ClientConfig,
    {
        "orchestrator": endpoint(bind=False),
        "timeout": _SECONDS,
        "hostnqn_file": NON_EMPTY,
        "user_auth": _AUTH,
        "munge_socket": Nullable(USER_PATH),
        "orchestrator_key": Nullable(USER_PATH),
        "keepalive": _SECONDS,
        "retry": non_negative("seconds"),
    },
)

_TRANSPORT = Record(
    TransportConfig,
    {
        "trtype": one_of("tcp", "rdma"),
        "trsvcid": integer(1, 65535, "a port number 1-65535"),
        # The address comes from the node's `ipv4` key, so only ipv4 makes sense.
        "adrfam": one_of("ipv4"),
    },
    expected="a mapping with trtype, trsvcid, adrfam",
)

_DISK = Record(
    DiskConfig,
    {
        "model": TEXT,
        "capacity": positive("GB"),
        "write_bw": positive("GBps"),
        "read_bw": positive("GBps"),
        "path": ABSOLUTE_PATH,
        "carving": one_of("lvm", "file"),
        "vg": Nullable(VG_NAME),  # null or absent: default_vg(path)
        "mountpoint": Nullable(ABSOLUTE_PATH),
        "traddr": Nullable(IPV4),
        "trsvcid": Nullable(integer(low=1, high=65535, what="a port number (1-65535)")),
    },
    defaults={"model": ""},
    finish=_check_disk,
    expected="a disk mapping (capacity, write_bw, read_bw, path, ...)",
)

_NODE_KEYS = "hostname, ipv4, network_bw, disks, ..."
_NODE = Record(
    NodeConfig,
    {
        "hostname": HOST_NAME,
        "ipv4": IPV4,
        "network": TEXT,
        "network_bw": positive("GBps"),
        "transport": _TRANSPORT,
        "disks": ListOf(_DISK, "a non-empty list of disks", min_len=1),
    },
    defaults={"network": "", "transport": TransportConfig()},
    finish=_check_node,
    expected=f"a node mapping ({_NODE_KEYS})",
)
_NODES = ListOf(_NODE, "a non-empty list of nodes", min_len=1)


# ---- loading -------------------------------------------------------------------


def _build(schema: Record, data: object, source: str) -> Any:
    """Run ``schema`` on ``data`` (``None`` = empty file = all defaults)."""
    try:
        config = schema({} if data is None else data, "")
    except Invalid as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return replace(config, source=source)


# ---- public API ----------------------------------------------------------------


def load_orchestrator_config(
    path: PathLike, strategy_names: Collection[str] | None = None
) -> OrchestratorConfig:
    """Load the orchestrator config; an empty file gives all defaults.

    When ``strategy_names`` is given, ``sched_strategy`` must be one of them or a
    ``pkg.module:Class`` path; otherwise only the shape of the value is checked.
    """
    return _build(_orchestrator_schema(strategy_names), read_yaml(path), str(path))


def load_server_config(path: PathLike) -> ServerConfig:
    """Load a server config; an empty file gives all defaults."""
    return _build(_SERVER, read_yaml(path), str(path))


def load_client_config(path: PathLike) -> ClientConfig:
    """Load a client config; an empty file gives all defaults."""
    return _build(_CLIENT, read_yaml(path), str(path))


def _nodes(data: object) -> tuple[NodeConfig, ...]:
    if not isinstance(data, dict):
        what = f"a node mapping ({_NODE_KEYS}) or a mapping with 'nodes: [...]'"
        got = "an empty file" if data is None else show(data)
        raise Invalid("(top level)", f"expected {what}, got {got}")
    if "nodes" not in data:
        return (_NODE(data, ""),)
    if others := sorted(str(k) for k in data if k != "nodes"):
        raise Invalid(others[0], "node keys go inside the 'nodes' list, not next to it")
    nodes: tuple[NodeConfig, ...] = _NODES(data["nodes"], "nodes")
    reject_duplicates(nodes, "hostname", "nodes")
    return nodes


def parse_system(data: object, source: str = "<string>") -> SystemConfig:
    """Validate already-parsed YAML ``data`` as a system (single node or ``nodes:``)."""
    try:
        return SystemConfig(nodes=_nodes(data), source=source)
    except Invalid as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def load_system(path: PathLike) -> SystemConfig:
    """Load a system YAML: one node at top level, or ``nodes: [...]``."""
    return parse_system(read_yaml(path), str(path))


def select_node(system: SystemConfig, server: ServerConfig) -> NodeConfig:
    """The node of ``system`` that ``server.node`` designates, or a ``ConfigError``."""
    count = len(system.nodes)
    if server.node >= count:
        what = f"an index below {count} (the number of nodes in {system.source})"
        raise ConfigError(f"{server.source}: {expected('node', what, server.node)}")
    return system.nodes[server.node]


# ---- discovery, as Slurm finds slurm.conf ---------------------------------------

CONF_ENV = "STORALLOC_CONF"  # like SLURM_CONF; one variable names the role's file
SYSTEM_DIR = "/etc/storalloc"


def find_config(role: str, given: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The config file of `role` (client, orchestrator, server): `-c`, else $STORALLOC_CONF
    (a file, or a directory holding <role>.yml, for hosts that run several roles), else
    /etc/storalloc/<role>.yml. Raises ConfigError naming every place looked at."""
    if given:
        return given
    named = environ.get(CONF_ENV)
    if named:
        return os.path.join(named, f"{role}.yml") if os.path.isdir(named) else named
    system = os.path.join(environ.get("STORALLOC_CONF_DIR", SYSTEM_DIR), f"{role}.yml")
    if os.path.isfile(system):
        return system
    raise ConfigError(
        f"no {role} configuration: give -c FILE, set {CONF_ENV}, or create {system}"
    )
