"""`client.py --trace` through the real three scripts, against the one-process simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from storalloc.client.session import Link, ServerError
from storalloc.client.trace_replay import nodes, wait_for_servers
from storalloc.sim import sweep as simulate
from storalloc.sim.traces.synthetic import generate, write_native_csv
from storalloc.wire import protocol as p
from tests.procs import ORCH_CFG, WAIT, run_client, start_orchestrator, start_server

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent / "data" / "sim"
FIRST_FIT = DATA / "first_fit.yml"


class Site:
    """An orchestrator --simulate and one simulated server per node, registered in order."""

    def __init__(self, system: Path, nodes: int, config: Path = FIRST_FIT, simulate=True):
        extra = ("--simulate",) if simulate else ()
        self.orch, self.clients, servers = start_orchestrator(*extra, config=config,
                                                              verbose=False)  # fmt: skip
        self.servers = []
        self.link = Link(self.clients, timeout=5.0)
        for index in range(nodes):
            self.servers.append(start_server(servers, "--node", str(index), system=system))
            # One at a time, so node numbers follow the file as they do in one process.
            wait_for_servers(self.link, WAIT, count=index + 1)

    def stop(self) -> None:
        self.link.close()
        for server in self.servers:
            assert server.stop() == 0
        assert self.orch.stop() == 0


@pytest.fixture
def site_factory():
    sites: list[Site] = []

    def make(*args, **kwargs) -> Site:
        sites.append(Site(*args, **kwargs))
        return sites[-1]

    yield make
    for site in sites:
        site.stop()


def one_process(trace: Path, system: Path, config: Path, out: Path) -> bytes:
    code = simulate.main(["--system", str(system), "--orchestrator-config", str(config),
                          str(trace), "--report-dir", str(out), "-q", "--jobs", "1"])  # fmt: skip
    assert code == 0
    (report,) = out.iterdir()
    return report.read_bytes()


def synthetic_trace(path: Path) -> Path:
    # Arrivals every ~2 minutes on two 100 GB disks: requests queue, wait and get refused.
    write_native_csv(generate(300, seed=7, mean_interarrival=120.0), path)
    return path


@pytest.mark.parametrize(
    ("trace", "system", "config"),
    [
        (DATA / "hand.csv", DATA / "pair.yml", FIRST_FIT),
        (None, DATA / "duo.yml", ORCH_CFG),  # synthetic, worst_case
    ],
    ids=["hand-pair-first_fit", "synthetic-duo-worst_case"],
)
def test_three_processes_and_one_give_the_same_report(site_factory, tmp_path, trace, system,
                                                       config):  # fmt: skip
    trace = trace or synthetic_trace(tmp_path / "synthetic.csv")
    nodes = len(yaml.safe_load(system.read_text()).get("nodes", [None]))
    site = site_factory(system, nodes, config)
    result = run_client(site.clients, "--trace", str(trace), "--report", str(tmp_path / "3.yml"))
    assert result.returncode == 0, result.stderr
    expected = one_process(trace, system, config, tmp_path / "one")
    assert (tmp_path / "3.yml").read_bytes() == expected
    report = yaml.safe_load(expected)
    assert report["nodes_count"] == nodes and report["granted_requests_count"] > 0
    if trace.name == "synthetic.csv":  # the comparison covers waits and refusals too
        assert report["delayed_requests_count"] > 0 and report["refused_requests_count"] > 0
    assert "Replay report:" in result.stdout
    assert "replay: 100%" in result.stderr  # progress lines, stderr not being a terminal


def test_a_record_out_of_order_ends_its_batch_with_an_error_naming_it(site_factory):
    site = site_factory(DATA / "duo.yml", 1)
    batch = p.TraceBatch(request_id="b1", trace_ids=["first", "late"], users=["u", "u"],
                         submits=[100.0, 50.0], sizes_gb=[1.0, 1.0], durations_s=[60.0, 60.0],
                         begins=[None, None])  # fmt: skip
    site.link.send(batch)
    with pytest.raises(ServerError, match="trace record late goes back in time") as err:
        site.link.receive("b1", WAIT)
    assert err.value.code == "bad_order"
    assert nodes(site.link).submitted == 1  # the record before it stays submitted


def test_bad_record_stops_before_anything_is_sent(site_factory):
    site = site_factory(DATA / "duo.yml", 1)
    bad = DATA / "bad.csv"
    result = run_client(site.clients, "--trace", str(bad))
    assert result.returncode == 1
    assert f"storalloc: error: {bad}:3: duration: expected" in result.stderr
    assert nodes(site.link).submitted == 0


def test_skip_bad_replays_the_other_records(site_factory, tmp_path):
    site = site_factory(DATA / "duo.yml", 1)
    bad = DATA / "bad.csv"
    out = tmp_path / "report.json"
    result = run_client(site.clients, "--trace", str(bad), "--skip-bad", "--report", str(out))
    assert result.returncode == 0, result.stderr
    assert f"skipping bad record: {bad}:3: duration" in result.stderr
    report = yaml.safe_load(out.read_text())  # JSON is YAML
    assert report["requests_count"] == 2 and report["skipped_bad_records_count"] == 1
    assert out.read_text().startswith("{\n")


def test_report_name_is_checked_before_replaying(site_factory, tmp_path):
    site = site_factory(DATA / "duo.yml", 1)
    result = run_client(site.clients, "--trace", str(DATA / "hand.csv"), "--report",
                        str(tmp_path / "report.txt"))  # fmt: skip
    assert result.returncode == 1 and ".yml, .yaml or .json" in result.stderr
    assert nodes(site.link).submitted == 0


def test_live_orchestrator_refuses_a_replay(site_factory):
    site = site_factory(DATA / "duo.yml", 0, simulate=False)
    result = run_client(site.clients, "--trace", str(DATA / "hand.csv"))
    assert result.returncode == 1
    assert "trace replay needs orchestrator --simulate" in result.stderr
