"""`orchestrator.py`: parse arguments, load the configuration, run the orchestrator."""

from __future__ import annotations

import argparse
import logging

from storalloc import registry
from storalloc.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_verbosity,
    add_version,
    error,
    install_stop_handlers,
    prog_name,
    setup_logging,
)
from storalloc.config.loader import ConfigError, find_config, load_orchestrator_config

PROG = "orchestrator"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("orchestrator.py"),
        description="Storalloc orchestrator: receives storage requests, places them on the "
        "disks of registered storage servers and ends them when their time is up.",
    )
    parser.add_argument("-c", "--config", help="orchestrator YAML config (default: "
                        "$STORALLOC_CONF, then /etc/storalloc/orchestrator.yml)")
    parser.add_argument("--simulate", action="store_true",
                        help="run on virtual time, driven by `client.py --trace`")  # fmt: skip
    parser.add_argument("--strategy", help="override sched_strategy (name or pkg.mod:Class)")
    parser.add_argument("--client-endpoint", help="override client_endpoint")
    parser.add_argument("--server-endpoint", help="override server_endpoint")
    parser.add_argument("--print-endpoints", action="store_true",
                        help="print the bound endpoints on one line first")
    add_verbosity(parser)
    add_version(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose, args.quiet, default=logging.INFO)  # the audit trail
    try:
        cfg = load_orchestrator_config(
            find_config("orchestrator", args.config), strategy_names=registry.STRATEGIES
        )
        strategy = registry.make_strategy(
            args.strategy or cfg.sched_strategy, cfg.strategy_options, cfg.seed
        )
    except (ConfigError, registry.PluginError) as exc:
        error(PROG, str(exc))
        return EXIT_FAILED
    import zmq

    from storalloc.orchestrator.service import Orchestrator  # zmq only once the config is sound
    from storalloc.orchestrator.state import StateError
    from storalloc.sim.report import build_report

    try:
        orch = Orchestrator(
            client_endpoint=args.client_endpoint or cfg.client_endpoint,
            server_endpoint=args.server_endpoint or cfg.server_endpoint,
            strategy=strategy, block_size=cfg.block_size, admins=frozenset(cfg.admins),
            heartbeat_interval=cfg.heartbeat_interval,
            heartbeat_timeout=cfg.heartbeat_timeout, max_request_gb=cfg.max_request_gb,
            simulate=args.simulate,
            report_builder=build_report, state_file=cfg.state_file,
        )  # fmt: skip
    except StateError as exc:
        error(PROG, str(exc))
        return EXIT_FAILED
    except zmq.ZMQError as exc:  # address in use, bad interface
        error(PROG, f"cannot listen: {exc}")
        return EXIT_FAILED
    if args.print_endpoints:
        print(f"listening clients={orch.clients.endpoint} servers={orch.servers.endpoint}",
              flush=True)  # fmt: skip
    wakeup = install_stop_handlers(orch.stop)
    try:
        orch.run(wakeup)
    finally:
        orch.close()
    return EXIT_OK
