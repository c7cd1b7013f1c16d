"""NQN and export-id helpers, the simulated backend, build_backend and reset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storalloc.server.backends import ExportSpec, build_backend, reset
from storalloc.server.backends.base import (
    NQN_MAX_BYTES,
    Backend,
    BackendError,
    export_id_for,
    export_id_from_nqn,
    is_export_id,
    make_nqn,
    parse_export_id,
    validate_hostnqn,
    validate_nqn_prefix,
)
from storalloc.server.backends.nvmeof import NvmeofBackend
from storalloc.server.backends.simulate import SimulatedBackend
from tests.fakes.helpers import HOSTNQN, PREFIX, Disk, Node, Server


def spec(export_id: str, nqn: str | None = None, hostnqn: str | None = HOSTNQN) -> ExportSpec:
    return ExportSpec(
        export_id, nqn or make_nqn(PREFIX, "node1", export_id), Disk(), 0, 1.0, hostnqn
    )


def test_make_nqn_joins_prefix_host_and_id() -> None:
    assert make_nqn(PREFIX, "Node1", "j3-p0-abcdef") == f"{PREFIX}:node1:j3-p0-abcdef"


def test_make_nqn_cleans_hostname() -> None:
    assert make_nqn(PREFIX, "ault 14_b", "j1-p0-000000") == f"{PREFIX}:ault-14-b:j1-p0-000000"


@pytest.mark.parametrize(
    "prefix",
    [
        "nqn.2026-13.io.storalloc",
        "nqn.26-11.io.storalloc",
        "iqn.2026-11.io.x",
        "nqn.2026-11.io",
        "nqn.2026-11.IO.Storalloc",
        "",
    ],
)
def test_bad_prefix_is_rejected_with_the_value(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid NQN prefix"):
        validate_nqn_prefix(prefix)


def test_prefix_may_carry_a_user_string() -> None:
    assert (
        validate_nqn_prefix("nqn.2026-11.io.storalloc:site-a") == "nqn.2026-11.io.storalloc:site-a"
    )


def test_make_nqn_enforces_223_bytes() -> None:
    with pytest.raises(ValueError, match="223"):
        make_nqn(PREFIX, "h" * 200, "j1-p0-abcdef")
    assert len(make_nqn(PREFIX, "h" * 150, "j1-p0-abcdef").encode()) <= NQN_MAX_BYTES


@pytest.mark.parametrize("bad", ["", "J1", "a/b", "../x", "a b", "-x", "x" * 65])
def test_make_nqn_rejects_unsafe_export_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid export id"):
        make_nqn(PREFIX, "node1", bad)


@given(st.integers(0, 10**9), st.integers(0, 10**4))
def test_export_id_round_trip(job: int, part: int) -> None:
    eid = export_id_for(job, part)
    assert parse_export_id(eid) == (job, part)
    assert is_export_id(eid)
    assert export_id_from_nqn(make_nqn(PREFIX, "n", eid), PREFIX, "n") == eid


def test_export_ids_are_unique_per_allocation() -> None:
    assert len({export_id_for(7, 0) for _ in range(200)}) > 190


@pytest.mark.parametrize("bad", ["job12-part0", "j1-p0", "j-1-p0-abcdef", "j1-p0-ABCDEF"])
def test_parse_export_id_rejects_foreign_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Storalloc export id"):
        parse_export_id(bad)


def test_export_id_for_rejects_negative() -> None:
    with pytest.raises(ValueError):
        export_id_for(-1, 0)


def test_nqn_of_another_node_or_prefix_is_not_ours() -> None:
    nqn = make_nqn(PREFIX, "node2", "j1-p0-abcdef")
    assert export_id_from_nqn(nqn, PREFIX, "node1") is None
    assert export_id_from_nqn("nqn.2014-08.org.nvmexpress:uuid:1", PREFIX, "node1") is None


@pytest.mark.parametrize("bad", ["nqn.x/../../etc", "host", "nqn.a b", "nqn.", "nqn.\u00e9"])
def test_hostnqn_must_be_safe_as_a_path_component(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid host NQN"):
        validate_hostnqn(bad)


def test_hostnqn_accepts_nvme_cli_format() -> None:
    assert validate_hostnqn(HOSTNQN) == HOSTNQN


def test_simulated_backend_returns_only_type_and_nqn_and_is_silent() -> None:
    said: list[str] = []
    b = SimulatedBackend("node1", PREFIX, emit=said.append)
    info = b.create(spec("j1-p0-abcdef"))
    assert info == {"type": "nvme", "nqn": f"{PREFIX}:node1:j1-p0-abcdef"}
    assert said == []
    assert b.list_exports() == ["j1-p0-abcdef"]
    assert isinstance(b, Backend)


def test_simulated_delete_says_what_would_happen_and_is_idempotent() -> None:
    said: list[str] = []
    b = SimulatedBackend("node1", PREFIX, emit=said.append)
    b.create(spec("j1-p0-abcdef"))
    b.delete("j1-p0-abcdef")
    b.delete("j1-p0-abcdef")
    assert said == [f"would tear down j1-p0-abcdef ({PREFIX}:node1:j1-p0-abcdef)"]
    assert b.list_exports() == []


def test_simulated_rejects_duplicate_and_bad_ids() -> None:
    b = SimulatedBackend("node1", PREFIX, emit=lambda s: None)
    b.create(spec("j1-p0-abcdef"))
    with pytest.raises(BackendError, match="already exists"):
        b.create(spec("j1-p0-abcdef"))
    with pytest.raises(BackendError, match="invalid export id"):
        b.create(ExportSpec("A/B", "nqn.x", Disk(), 0, 1.0, None))


def test_build_backend_simulate_names_nqns_after_the_node_hostname() -> None:
    b = build_backend(Server(name="srv-a"), Node(), simulate=True, emit=lambda s: None)
    assert isinstance(b, SimulatedBackend)
    info = b.create(ExportSpec("j2-p1-abcdef", "", Disk(), 0, 1.0, HOSTNQN))
    assert info["nqn"] == f"{PREFIX}:node1:j2-p1-abcdef"


def test_build_backend_real_honours_driver_override(tmp_path) -> None:
    b = build_backend(
        Server(driver="nvmetcli"),
        Node(),
        driver="configfs",
        dry_run=True,
        emit=lambda s: None,
        configfs_root=str(tmp_path),
    )
    assert isinstance(b, NvmeofBackend)
    assert b.driver.name == "configfs"


def test_build_backend_rejects_unknown_driver() -> None:
    with pytest.raises(BackendError, match="driver: expected one of auto, nvmetcli, configfs"):
        build_backend(Server(driver="spdk"), Node(), dry_run=True, emit=lambda s: None)


def test_reset_deletes_everything_listed() -> None:
    said: list[str] = []
    b = SimulatedBackend("node1", PREFIX, emit=said.append)
    for eid in ("j1-p0-aaaaaa", "j2-p0-bbbbbb"):
        b.create(spec(eid))
    assert reset(b) == ["j1-p0-aaaaaa", "j2-p0-bbbbbb"]
    assert b.list_exports() == []
    assert len(said) == 2
