"""The schema of each configuration file (one Record table per role, and their cross-key
checks), built from the generic machinery of storalloc.config.schema and storalloc.config.checks."""

from __future__ import annotations

import re
from collections.abc import Collection
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
from storalloc.config.models import (
    ClientConfig,
    DiskConfig,
    NodeConfig,
    OrchestratorConfig,
    ServerConfig,
    TransportConfig,
)
from storalloc.config.schema import (
    Leaf,
    ListOf,
    Nullable,
    Record,
    expected,
    join,
    reject_duplicates,
)

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


def orchestrator_schema(strategy_names: Collection[str] | None) -> Record:
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


SERVER_SCHEMA = Record(
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

CLIENT_SCHEMA = Record(
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

NODE_KEYS = "hostname, ipv4, network_bw, disks, ..."
NODE_SCHEMA = Record(
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
    expected=f"a node mapping ({NODE_KEYS})",
)
NODES_SCHEMA = ListOf(NODE_SCHEMA, "a non-empty list of nodes", min_len=1)
