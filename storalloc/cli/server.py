"""`server.py`: run a storage server for one node of a system YAML."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from storalloc.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_verbosity,
    add_version,
    error,
    install_stop_handlers,
    prog_name,
    setup_audit,
    setup_logging,
)
from storalloc.cli.trust import SERVER_KEY, gen_keys, server_security
from storalloc.config.loader import (
    ConfigError,
    NodeConfig,
    ServerConfig,
    find_config,
    load_server_config,
    load_system,
    select_node,
)
from storalloc.config.paths import default_state_dir
from storalloc.wire.keys import SecurityError
from storalloc.wire.transport import HandshakeRefused

if TYPE_CHECKING:
    from storalloc.server.backends import Backend

PROG = "server"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("server.py"),
        description="Storalloc storage server: registers a storage node with the "
        "orchestrator, then carves and exports space over NVMe-oF on its orders.",
    )
    parser.add_argument("-c", "--config", help="server YAML config (default: "
                        "$STORALLOC_CONF, then /etc/storalloc/server.yml)")
    parser.add_argument("-s", "--system",
                        help="system YAML (nodes, disks), or a shipped one's name: ault14, "
                        "pair, tiny (required to run)")  # fmt: skip
    parser.add_argument("--gen-keys", metavar="DIR",
                        help="write a new server CURVE key pair into DIR, then exit")
    parser.add_argument("--node", type=int, help="node index in the system YAML (config: node)")
    parser.add_argument("--name", help="name to register under (default: the hostname)")
    parser.add_argument("--orchestrator", help="override the orchestrator endpoint")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--simulate", action="store_true", help="no-op backend: carve nothing")
    mode.add_argument("--dry-run", action="store_true",
                      help="print the exact commands instead of running them")
    parser.add_argument("--driver", choices=["auto", "nvmetcli", "configfs"],
                        help="NVMe target driver (config: driver)")
    parser.add_argument("--reset", action="store_true",
                        help="remove every export Storalloc created on this node, then exit")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_verbosity(parser)
    add_version(parser)
    return parser


def shipped_system(given: str) -> str:
    """`-s ault14` names a system shipped with the package when no such file exists."""
    from storalloc import examples_dir

    shipped = os.path.join(examples_dir(), "server", "systems", f"{given}.yml")
    if not os.path.exists(given) and os.sep not in given and os.path.exists(shipped):
        return shipped
    return given


def _emit(text: str) -> None:
    print(f"storalloc: {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet)
    try:
        setup_audit(str(default_state_dir() / "server" / "audit.log"))
    except OSError as exc:
        error(PROG, f"cannot write the audit log: {exc}")
        return EXIT_FAILED
    if args.gen_keys:
        return gen_keys(PROG, args.gen_keys, SERVER_KEY)
    loaded = _load(parser, args)
    if loaded is None:
        return EXIT_FAILED
    cfg, node, index = loaded
    from storalloc.server.backends import BackendError, build_backend

    try:
        backend = build_backend(cfg, node, simulate=args.simulate, dry_run=args.dry_run,
                                driver=args.driver, emit=_emit)
        if args.reset:
            return _reset(backend, args.yes)
    except (BackendError, ValueError) as exc:
        error(PROG, str(exc))
        return EXIT_FAILED
    return _serve(args, cfg, node, f"{args.name or cfg.name or node.hostname}:{index}", backend)


def _load(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[ServerConfig, NodeConfig, int] | None:
    """The config, this server's node and its index; None once a problem is said."""
    if not args.system:
        parser.error("the following arguments are required: -s/--system")
    if args.node is not None and args.node < 0:
        parser.error(f"argument --node: expected a node index >= 0, got {args.node}")
    try:
        cfg = load_server_config(find_config("server", args.config))
        system = load_system(shipped_system(args.system))
        index = cfg.node if args.node is None else args.node
        node = select_node(system, dataclasses.replace(cfg, node=index))
    except ConfigError as exc:
        error(PROG, str(exc))
        return None
    real = not (args.simulate or args.dry_run)
    if real and os.geteuid() != 0:
        error(PROG, "exporting NVMe-oF targets needs root (run as root, or use --simulate "
                    "or --dry-run)")
        return None
    return cfg, node, index


def _serve(
    args: argparse.Namespace, cfg: ServerConfig, node: NodeConfig, name: str, backend: Backend
) -> int:
    """Register `name` with the orchestrator and serve its orders until stopped."""
    from storalloc.server.agent import StorageServer
    from storalloc.server.backends import BackendError

    try:
        security = server_security(cfg)
    except SecurityError as exc:
        error(PROG, str(exc))
        return EXIT_FAILED
    try:
        server = StorageServer(
            endpoint=args.orchestrator or cfg.orchestrator, name=name, node=node,
            backend=backend, nqn_prefix=cfg.nqn_prefix,
            heartbeat_interval=cfg.heartbeat_interval, emit=lambda t: print(t, flush=True),
            security=security,
        )
    except BackendError as exc:  # e.g. the nvmet modules are not loaded
        error(PROG, str(exc))
        return EXIT_FAILED
    wakeup = install_stop_handlers(server.stop)
    try:
        server.run(wakeup)
    except HandshakeRefused as exc:
        error(PROG, f"cannot register: {exc}")
        return EXIT_FAILED
    return EXIT_FAILED if server.refused else EXIT_OK


def _reset(backend: Backend, yes: bool) -> int:
    """`--reset`: list what would go, ask, then remove every Storalloc export."""
    exports = backend.list_exports()
    if not exports:
        print("storalloc: no Storalloc export on this node")
        return EXIT_OK
    print(f"storalloc: {len(exports)} export(s) will be removed: {', '.join(exports)}")
    if not yes:
        if not sys.stdin.isatty():
            error(PROG, "--reset needs confirmation: run it on a terminal or add --yes")
            return EXIT_FAILED
        if input("Remove them all? [y/N] ").strip().lower() not in ("y", "yes"):
            print("storalloc: nothing removed")
            return EXIT_FAILED
    from storalloc.server.backends import reset

    removed = reset(backend)
    print(f"storalloc: removed {len(removed)} export(s)")
    return EXIT_OK
