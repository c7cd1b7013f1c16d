"""`orchestrator.py`: parse arguments, load the configuration, run the orchestrator."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storalloc import registry
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
from storalloc.cli.trust import (
    ORCHESTRATOR_KEY,
    CredentialError,
    database_path,
    gen_keys,
    orchestrator_security,
    state_dir,
)
from storalloc.config.loader import (
    ConfigError,
    OrchestratorConfig,
    find_config,
    load_orchestrator_config,
)
from storalloc.config.paths import StateDirError
from storalloc.wire.keys import SecurityError
from storalloc.wire.security import OrchestratorSecurity

PROG = "orchestrator"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("orchestrator.py"),
        description="Storalloc orchestrator: receives storage requests, places them on the "
        "disks of registered storage servers and ends them when their time is up.",
    )
    parser.add_argument("-c", "--config", help="orchestrator YAML config (default: "
                        "$STORALLOC_CONF, then /etc/storalloc/orchestrator.yml)")
    parser.add_argument("--gen-keys", metavar="DIR",
                        help="write a new orchestrator CURVE key pair into DIR, then exit")
    parser.add_argument("--state-dir", help="override state_dir (database, keys)")
    parser.add_argument("--simulate", action="store_true",
                        help="run on virtual time, driven by `client.py --trace`")  # fmt: skip
    parser.add_argument("--strategy", help="override sched_strategy (name or pkg.mod:Class)")
    parser.add_argument("--client-endpoint", help="override client_endpoint")
    parser.add_argument("--server-endpoint", help="override server_endpoint")
    parser.add_argument("--metrics", metavar="HOST:PORT",
                        help="override `metrics`: serve Prometheus metrics there (port 0: any)")
    parser.add_argument("--print-endpoints", action="store_true",
                        help="print the bound endpoints on one line first")
    add_verbosity(parser)
    add_version(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet, default=logging.INFO)
    if args.gen_keys:
        return gen_keys(PROG, args.gen_keys, ORCHESTRATOR_KEY)
    setup = _setup(args)
    if setup is None:
        return EXIT_FAILED
    cfg = setup.cfg
    try:
        metrics, metrics_at = _metrics(args.metrics or cfg.metrics, cfg.metrics_interval)
    except Exception as exc:  # MetricsUnavailable, or a malformed --metrics
        error(PROG, str(exc))
        return EXIT_FAILED
    orch = _build(args, setup, metrics)
    if orch is None:
        if metrics is not None:
            metrics.close()  # type: ignore[attr-defined]
        return EXIT_FAILED
    logging.getLogger("storalloc.audit").info(
        "listen clients=%s servers=%s strategy=%s", orch.clients.endpoint,
        orch.servers.endpoint, cfg.sched_strategy)
    # Handlers first: whoever reads the endpoints may signal us at once.
    wakeup = install_stop_handlers(orch.stop)
    if args.print_endpoints:
        shown = f" metrics={metrics_at}" if metrics_at else ""
        print(f"listening clients={orch.clients.endpoint} servers={orch.servers.endpoint}"
              + shown, flush=True)  # fmt: skip
    try:
        orch.run(wakeup)
    finally:
        orch.close()
        if metrics is not None:
            metrics.close()  # type: ignore[attr-defined]
    return EXIT_OK


@dataclass(frozen=True, slots=True)
class _Setup:
    """What the configuration yields before any socket is opened."""

    cfg: OrchestratorConfig
    strategy: Any
    state: Path
    security: OrchestratorSecurity


def _setup(args: argparse.Namespace) -> _Setup | None:
    """Config, strategy, state directory, audit trail and keys; None once a problem is said."""
    try:
        cfg = load_orchestrator_config(
            find_config("orchestrator", args.config), strategy_names=registry.STRATEGIES
        )
        strategy = registry.make_strategy(
            args.strategy or cfg.sched_strategy, cfg.strategy_options, cfg.seed
        )
        state = state_dir(cfg, args.state_dir)  # created, or a clear error now, not later
        _audit_to(cfg.audit_log or str(state / "audit.log"), cfg.source)
        security = orchestrator_security(cfg)
    except (ConfigError, registry.PluginError, StateDirError, SecurityError,
            CredentialError) as exc:  # fmt: skip
        error(PROG, str(exc))
        return None
    return _Setup(cfg, strategy, state, security)


def _build(args: argparse.Namespace, setup: _Setup, metrics: object | None) -> Any:
    """The Orchestrator with its sockets bound, or None once the reason is said."""
    import zmq

    from storalloc.orchestrator.service import Orchestrator  # zmq only once the config is sound
    from storalloc.orchestrator.store import Store, StoreError
    from storalloc.sim.report import build_report

    cfg = setup.cfg
    try:
        # A simulation replays a trace on virtual time: nothing in it outlives the run.
        store = None if args.simulate else Store(database_path(cfg, setup.state))
        return Orchestrator(
            client_endpoint=args.client_endpoint or cfg.client_endpoint,
            server_endpoint=args.server_endpoint or cfg.server_endpoint,
            strategy=setup.strategy, block_size=cfg.block_size, admins=frozenset(cfg.admins),
            heartbeat_interval=cfg.heartbeat_interval,
            heartbeat_timeout=cfg.heartbeat_timeout, max_request_gb=cfg.max_request_gb,
            simulate=args.simulate,
            report_builder=build_report, security=setup.security,
            reply_queue=cfg.reply_queue, warn_before=cfg.lease_warning,
            max_setup_attempts=cfg.max_setup_attempts,
            retry_backoff=cfg.setup_retry_backoff, metrics=metrics, store=store,
        )  # fmt: skip
    except (StoreError, zmq.ZMQError) as exc:  # unusable database; address in use
        setup.security.stop()
        error(PROG, str(exc) if isinstance(exc, StoreError) else f"cannot listen: {exc}")
        return None


def _audit_to(path: str, source: str | None) -> None:
    try:
        setup_audit(path)
    except OSError as exc:
        raise ConfigError(f"{source}: audit_log: cannot write {path}: {exc.strerror}") from None


def _metrics(listen: str | None, interval: float) -> tuple[object | None, str | None]:
    """The Prometheus endpoint when configured (off by default), and its address."""
    if not listen:
        return None, None
    from storalloc.orchestrator.metrics import Metrics, MetricsUnavailable

    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise MetricsUnavailable(f"invalid metrics address {listen!r}: expected HOST:PORT")
    metrics = Metrics(interval)
    return metrics, metrics.serve(listen)
