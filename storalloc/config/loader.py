"""Load the YAML configuration files into validated, frozen dataclasses.

The dataclasses live in storalloc.config.models and the schemas in storalloc.config.schemas;
the dataclasses are re-exported here, where every caller imports them from.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from storalloc.config.models import (
    ClientConfig,
    DiskConfig,
    NodeConfig,
    OrchestratorConfig,
    ServerConfig,
    SystemConfig,
    TransportConfig,
    default_vg,
)
from storalloc.config.schema import (
    ConfigError,
    Invalid,
    Record,
    expected,
    read_yaml,
    reject_duplicates,
    show,
)
from storalloc.config.schemas import (
    CLIENT_SCHEMA,
    NODE_KEYS,
    NODE_SCHEMA,
    NODES_SCHEMA,
    SERVER_SCHEMA,
    orchestrator_schema,
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
    "default_vg",
    "find_config",
    "load_client_config",
    "load_orchestrator_config",
    "load_server_config",
    "load_system",
    "parse_system",
    "select_node",
]

PathLike = str | os.PathLike[str]


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
    return _build(orchestrator_schema(strategy_names), read_yaml(path), str(path))


def load_server_config(path: PathLike) -> ServerConfig:
    """Load a server config; an empty file gives all defaults."""
    return _build(SERVER_SCHEMA, read_yaml(path), str(path))


def load_client_config(path: PathLike) -> ClientConfig:
    """Load a client config; an empty file gives all defaults."""
    return _build(CLIENT_SCHEMA, read_yaml(path), str(path))


def _nodes(data: object) -> tuple[NodeConfig, ...]:
    if not isinstance(data, dict):
        what = f"a node mapping ({NODE_KEYS}) or a mapping with 'nodes: [...]'"
        got = "an empty file" if data is None else show(data)
        raise Invalid("(top level)", f"expected {what}, got {got}")
    if "nodes" not in data:
        return (NODE_SCHEMA(data, ""),)
    if others := sorted(str(k) for k in data if k != "nodes"):
        raise Invalid(others[0], "node keys go inside the 'nodes' list, not next to it")
    nodes: tuple[NodeConfig, ...] = NODES_SCHEMA(data["nodes"], "nodes")
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
