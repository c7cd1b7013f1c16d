"""The orchestrator's Prometheus endpoint, scraped over HTTP from a real orchestrator
process with a simulated server and real clients."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from tests.procs import ORCH_CFG, WAIT, Proc, run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=WAIT) as reply:
        return reply.read().decode()


def value(text: str, name: str, **labels: str) -> float | None:
    shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(name + (f"{{{shown}}}" if labels else "")) + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    return None if match is None else float(match.group(1))


def poll_metric(address: str, name: str, want: float, **labels: str) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        text = scrape(address)
        if value(text, name, **labels) == want or time.monotonic() > deadline:
            return text
        time.sleep(0.2)  # the gauges refresh on the orchestrator's own period


def test_metrics_endpoint_reports_capacity_jobs_and_requests(tmp_path):
    cfg = tmp_path / "orchestrator.yml"
    cfg.write_text("heartbeat_interval: 0.2\nheartbeat_timeout: 1\nmetrics_interval: 0.1\n")
    orch, clients, servers = start_orchestrator("--metrics", "127.0.0.1:0", config=cfg)
    server = start_server(servers)
    try:
        address = orch.lines[-1].split("metrics=")[1]
        text = poll_metric(address, "storalloc_capacity_gb", 8000, node="ault14:0", disk="7")
        assert value(text, "storalloc_node_up", node="ault14:0") == 1
        granted = run_client(clients, "-s", "200", "-t", "60")
        assert granted.returncode == 0, granted.stderr
        refused = run_client(clients, "-s", "9000", "-t", "60")
        assert refused.returncode == 1
        later = run_client(clients, "-s", "100", "-t", "60", "--begin", "now+1hour",
                           "--immediate=0")  # fmt: skip
        assert later.returncode == 1  # --immediate: not granted at once, refused
        poll_metric(address, "storalloc_booked_now_gb", 200, node="ault14:0", disk="0")
        text = poll_metric(address, "storalloc_queue_length", 0)
        assert value(text, "storalloc_booked_now_gb", node="ault14:0", disk="0") == 200
        assert value(text, "storalloc_grants_total") == 1
        assert value(text, "storalloc_refusals_total", reason="larger_than_disks") == 1
        assert value(text, "storalloc_jobs", state="ALLOCATED") == 1
        assert value(text, "storalloc_queue_length") == 0
        assert value(text, "storalloc_refusals_total", reason="immediate") == 1, text
        assert value(text, "storalloc_wait_seconds_count") == 1
        assert value(text, "storalloc_request_latency_seconds_count") >= 3
        assert value(text, "storalloc_setup_failures_total") == 0
        server.stop()  # the node goes down once its heartbeats stop
        text = poll_metric(address, "storalloc_node_up", 0, node="ault14:0")
        assert value(text, "storalloc_node_up", node="ault14:0") == 0
    finally:
        server.stop()
        orch.stop()


def test_metrics_are_off_by_default():
    orch, _, _ = start_orchestrator()
    try:
        assert "metrics=" not in orch.lines[-1]
    finally:
        orch.stop()


def test_metrics_address_in_use_is_a_clear_error():
    first, _, _ = start_orchestrator("--metrics", "127.0.0.1:0")
    try:
        taken = first.lines[-1].split("metrics=")[1]
        second = Proc(["orchestrator.py", "-c", str(ORCH_CFG), "--metrics", taken,
                       "--client-endpoint", "tcp://127.0.0.1:*",
                       "--server-endpoint", "tcp://127.0.0.1:*"])  # fmt: skip
        assert second.proc.wait(timeout=WAIT) == 1
        second.stop()
        assert any(f"orchestrator: error: cannot serve metrics on {taken}" in line
                   for line in second.lines), second.lines
        assert not any("Traceback" in line for line in second.lines)
    finally:
        first.stop()


def test_metrics_on_without_prometheus_client_is_a_clear_error(tmp_path):
    # A module that fails to import stands in for a missing optional extra.
    (tmp_path / "prometheus_client.py").write_text("raise ImportError('not installed')\n")
    cfg = tmp_path / "orchestrator.yml"
    cfg.write_text("metrics: 127.0.0.1:0\n")
    proc = Proc(["orchestrator.py", "-c", str(cfg)], PYTHONPATH=str(tmp_path))
    assert proc.proc.wait(timeout=WAIT) == 1
    proc.stop()
    assert ("orchestrator: error: the configuration enables metrics, but prometheus_client is "
            "not installed: pip install 'storalloc[metrics]'") in "\n".join(proc.lines)
