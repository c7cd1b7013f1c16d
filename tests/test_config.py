"""Tests for storalloc.config.loader: defaults, shipped files, and every kind of error message."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storalloc.config.checks import TEXT, endpoint
from storalloc.config.loader import (
    ClientConfig,
    ConfigError,
    DiskConfig,
    NodeConfig,
    OrchestratorConfig,
    ServerConfig,
    SystemConfig,
    TransportConfig,
    default_vg,
    load_client_config,
    load_orchestrator_config,
    load_server_config,
    load_system,
    parse_system,
    select_node,
)
from storalloc.config.schema import Invalid, Record

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = [
    "worst_case",
    "best_fit",
    "first_fit",
    "worst_fit",
    "random",
    "round_robin",
    "best_bandwidth",
]
AULT14_PATHS = [f"/dev/nvme{i}n1" for i in (0, 1, 2, 3, 6, 7, 8, 9)]

DISK = "{model: m, capacity: 10, write_bw: 1, read_bw: 1, path: /dev/x}"
NODE = f"hostname: n1\nipv4: 10.0.0.1\nnetwork_bw: 1\ndisks: [{DISK}]\n"


def write(tmp_path: Path, text: str, name: str = "config.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(loader, path: Path, *args) -> str:
    with pytest.raises(ConfigError) as info:
        loader(path, *args)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


# ---- defaults and shipped files -------------------------------------------------


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_means_all_defaults(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert load_orchestrator_config(path) == OrchestratorConfig()
    assert load_server_config(path) == ServerConfig()
    assert load_client_config(path) == ClientConfig()
    assert load_client_config(path).source == str(path)


def test_documented_defaults() -> None:
    orch = OrchestratorConfig()
    assert orch.client_endpoint == "tcp://127.0.0.1:35000"
    assert orch.server_endpoint == "tcp://127.0.0.1:35001"
    assert orch.sched_strategy == "worst_case"
    assert dict(orch.strategy_options) == {}
    assert (orch.seed, orch.block_size, orch.max_request_gb) == (0, 0.0, 1e9)
    assert (orch.heartbeat_interval, orch.heartbeat_timeout) == (5.0, 15.0)
    assert orch.admins == ("root",)
    assert orch.state_dir is None and orch.database is None and orch.audit_log is None
    server = ServerConfig()
    assert server.orchestrator == "tcp://127.0.0.1:35001"
    assert (server.name, server.node, server.driver, server.allow_any_host) == (
        None,
        0,
        "auto",
        False,
    )
    assert server.nqn_prefix == "nqn.2026-11.io.storalloc"
    assert (server.heartbeat_interval, server.command_timeout) == (5.0, 30.0)
    client = ClientConfig()
    assert (client.orchestrator, client.timeout) == ("tcp://127.0.0.1:35000", 5.0)
    assert client.hostnqn_file == "/etc/nvme/hostnqn"
    assert TransportConfig() == TransportConfig("tcp", 4420, "ipv4")


def test_shipped_orchestrator_config() -> None:
    path = ROOT / "config/orchestrator/config.yml"
    config = load_orchestrator_config(path, STRATEGIES)
    assert config.client_endpoint == "tcp://127.0.0.1:35000"
    assert config.server_endpoint == "tcp://127.0.0.1:35001"
    assert config.sched_strategy == "worst_case"
    assert config.source == str(path)


def test_shipped_server_and_client_configs() -> None:
    assert load_server_config(ROOT / "config/server/config.yml").orchestrator == (
        "tcp://127.0.0.1:35001"
    )
    assert load_client_config(ROOT / "config/client/config.yml").orchestrator == (
        "tcp://127.0.0.1:35000"
    )


def test_shipped_ault14_system() -> None:
    system = load_system(ROOT / "config/server/systems/ault14.yml")
    assert isinstance(system, SystemConfig)
    (node,) = system.nodes
    assert (node.hostname, node.ipv4, node.network) == ("ault14", "127.0.0.1", "100 Gb Ethernet")
    assert node.network_bw == 12.5
    assert node.transport == TransportConfig("tcp", 4420, "ipv4")
    assert [d.path for d in node.disks] == AULT14_PATHS
    for disk in node.disks:
        assert disk.model == "INTEL SSDPE2KX080T8"
        assert (disk.capacity, disk.write_bw, disk.read_bw) == (8000.0, 2.93, 3.13)
        assert (disk.carving, disk.mountpoint) == ("lvm", None)
        assert disk.vg == "storalloc-" + disk.path.removeprefix("/dev/")


def test_shipped_two_node_system() -> None:
    system = load_system(ROOT / "config/server/systems/pair.yml")
    assert [n.hostname for n in system.nodes] == ["stor01", "stor02"]
    assert system.nodes[1].transport.trtype == "rdma"
    fast, scratch = system.nodes[1].disks
    assert fast.vg == "stor02-fast"
    assert (scratch.carving, scratch.mountpoint) == ("file", "/mnt/scratch")


def test_shipped_tiny_system() -> None:
    (node,) = load_system(ROOT / "config/server/systems/tiny.yml").nodes
    assert [d.capacity for d in node.disks] == [100.0, 50.0]
    assert node.transport == TransportConfig()


def test_single_node_and_nodes_forms_agree(tmp_path: Path) -> None:
    single = load_system(write(tmp_path, NODE, "a.yml"))
    indented = "".join(f"    {line}\n" for line in NODE.splitlines())
    listed = load_system(write(tmp_path, f"nodes:\n  - \n{indented}", "b.yml"))
    assert single == listed
    assert single.nodes[0] == NodeConfig(
        "n1", "10.0.0.1", "", 1.0, TransportConfig(), (DiskConfig("m", 10.0, 1.0, 1.0, "/dev/x"),)
    )


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        OrchestratorConfig().seed = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        OrchestratorConfig().strategy_options["x"] = 1  # type: ignore[index]


def test_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    config = load_orchestrator_config(write(tmp_path, "max_request_gb: 1e9\nblock_size: 2E3\n"))
    assert (config.max_request_gb, config.block_size) == (1e9, 2000.0)


def test_strategy_options_and_dotted_strategy(tmp_path: Path) -> None:
    text = "sched_strategy: my.pkg.mod:Greedy\nstrategy_options: {alpha: 0.5}\nseed: -3\n"
    config = load_orchestrator_config(write(tmp_path, text), STRATEGIES)
    assert config.sched_strategy == "my.pkg.mod:Greedy"
    assert dict(config.strategy_options) == {"alpha": 0.5}
    assert config.seed == -3


def test_default_vg_is_lvm_safe() -> None:
    assert default_vg("/dev/nvme0n1") == "storalloc-nvme0n1"
    assert default_vg("/dev/disk/by-path/pci-0000:3b:00.0-nvme-1") == (
        "storalloc-pci-0000-3b-00.0-nvme-1"
    )


def test_select_node(tmp_path: Path) -> None:
    system = load_system(ROOT / "config/server/systems/pair.yml")
    server = load_server_config(write(tmp_path, "node: 1\n"))
    assert select_node(system, server).hostname == "stor02"
    server = load_server_config(write(tmp_path, "node: 2\n"))
    with pytest.raises(ConfigError, match=r"config.yml: node: expected an index below 2 .* got 2"):
        select_node(system, server)


def test_parse_system_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^<memory>: nodes: expected a non-empty list"):
        parse_system({"nodes": []}, "<memory>")


def test_schema_drift_is_caught_at_definition() -> None:
    with pytest.raises(TypeError, match="no field"):
        Record(ClientConfig, {"typo": TEXT})


# ---- file-level errors ---------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    message = error_of(load_server_config, tmp_path / "nope.yml")
    assert message.endswith("cannot read file: No such file or directory")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    assert "Is a directory" in error_of(load_system, tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yml"
    path.write_bytes(b"seed: \xff\n")
    assert "not UTF-8" in error_of(load_orchestrator_config, path)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\nadmins: [root\n")
    message = error_of(load_orchestrator_config, path)
    assert "line 3, column 1: invalid YAML" in message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\nblock_size: 2\nseed: 3\n")
    message = error_of(load_orchestrator_config, path)
    assert "line 3, column 1: invalid YAML: duplicate key 'seed'" in message


@pytest.mark.parametrize("loader", [load_orchestrator_config, load_client_config, load_system])
def test_top_level_must_be_a_mapping(tmp_path: Path, loader) -> None:
    message = error_of(loader, write(tmp_path, "- a\n- b\n"))
    assert "(top level): expected a" in message
    assert "got ['a', 'b']" in message


def test_empty_system_file(tmp_path: Path) -> None:
    message = error_of(load_system, write(tmp_path, ""))
    assert "(top level): expected a node mapping" in message
    assert message.endswith("got an empty file")


# ---- key-level errors --------------------------------------------------------


def test_unknown_key_lists_valid_keys(tmp_path: Path) -> None:
    message = error_of(load_orchestrator_config, write(tmp_path, "sched_stratgy: random\n"))
    assert "sched_stratgy: unknown key (did you mean 'sched_strategy'?)" in message
    assert "valid keys: admins, audit_log, block_size, client_endpoint," in message


def test_unknown_nested_key_has_full_path(tmp_path: Path) -> None:
    disk = "{capcity: 1, capacity: 1, write_bw: 1, read_bw: 1, path: /dev/y}"
    node = "hostname: a\n    ipv4: 1.2.3.4\n    network_bw: 1\n"
    text = f"nodes:\n  - {node}    disks: [{DISK}, {disk}]\n"
    message = error_of(load_system, write(tmp_path, text))
    assert "nodes[0].disks[1].capcity: unknown key (did you mean 'capacity'?)" in message
    assert (
        "valid keys: capacity, carving, model, mountpoint, path, read_bw, traddr, trsvcid, vg, "
        "write_bw" in message
    )


def test_negative_capacity_message_is_exact(tmp_path: Path) -> None:
    bad = "{capacity: -5, write_bw: 1, read_bw: 1, path: /dev/z}"
    text = NODE.replace(f"[{DISK}]", f"[{DISK}, {DISK.replace('/dev/x', '/dev/y')}, {bad}]")
    path = write(tmp_path, text, "ault14.yml")
    message = error_of(load_system, path)
    assert message == f"{path}: disks[2].capacity: expected a positive number of GB, got -5"


@pytest.mark.parametrize(
    ("text", "key", "what", "got"),
    [
        ("heartbeat_interval: true", "heartbeat_interval", "a positive number of seconds", "True"),
        ("heartbeat_interval: '5'", "heartbeat_interval", "a positive number of seconds", "'5'"),
        ("heartbeat_interval: 0", "heartbeat_interval", "a positive number of seconds", "0"),
        ("heartbeat_timeout: -1", "heartbeat_timeout", "a positive number of seconds", "-1"),
        ("heartbeat_timeout: 5", "heartbeat_timeout", "greater than heartbeat_interval (5)", "5.0"),
        ("block_size: -1", "block_size", "a number of GB >= 0", "-1"),
        ("max_request_gb: 0", "max_request_gb", "a positive number of GB", "0"),
        ("max_request_gb: .inf", "max_request_gb", "a positive number of GB", "inf"),
        ("seed: 1.5", "seed", "an integer", "1.5"),
        ("seed: false", "seed", "an integer", "False"),
        ("admins: root", "admins", "a list of user names", "'root'"),
        ("admins: [root, 3]", "admins[1]", "a non-empty string", "3"),
        ("admins: [root, '']", "admins[1]", "a non-empty string", "''"),
        ("strategy_options: [1]", "strategy_options", "a mapping of keyword names", "[1]"),
        (
            "strategy_options: {1x: 2}",
            "strategy_options",
            "a mapping of keyword names",
            "{'1x': 2}",
        ),
        ("audit_log: ''", "audit_log", "a non-empty string or null", "''"),
        ("sched_strategy: 'a.b:'", "sched_strategy", "or 'pkg.module:Class'", "'a.b:'"),
        ("sched_strategy: 3", "sched_strategy", "or 'pkg.module:Class'", "3"),
        (
            "server_endpoint: tcp://127.0.0.1:35000",
            "server_endpoint",
            "an endpoint different from client_endpoint",
            "'tcp://127.0.0.1:35000'",
        ),
    ],
)
def test_orchestrator_value_errors(
    tmp_path: Path, text: str, key: str, what: str, got: str
) -> None:
    message = error_of(load_orchestrator_config, write(tmp_path, text + "\n"))
    assert f": {key}: expected " in message
    assert what in message
    assert message.endswith(f", got {got}")


def test_strategy_names_are_listed_sorted(tmp_path: Path) -> None:
    path = write(tmp_path, "sched_strategy: wrost_case\n")
    message = error_of(load_orchestrator_config, path, STRATEGIES)
    assert message == (
        f"{path}: sched_strategy: expected one of best_bandwidth, best_fit, first_fit, "
        "random, round_robin, worst_case, worst_fit or 'pkg.module:Class', got 'wrost_case'"
    )


def test_strategy_without_names_checks_shape_only(tmp_path: Path) -> None:
    path = write(tmp_path, "sched_strategy: anything_goes\n")
    assert load_orchestrator_config(path).sched_strategy == "anything_goes"
    assert "expected a strategy name or" in error_of(
        load_orchestrator_config, write(tmp_path, "sched_strategy: 'no spaces'\n")
    )


@pytest.mark.parametrize(
    "endpoint",
    ["tcp://*:35000", "tcp://0.0.0.0:1", "tcp://[::1]:65535", "tcp://host.example:*", "ipc://x"],
)
def test_bind_endpoints_accepted(tmp_path: Path, endpoint: str) -> None:
    config = load_orchestrator_config(write(tmp_path, f"client_endpoint: '{endpoint}'\n"))
    assert config.client_endpoint == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "127.0.0.1:35000",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536",
        "udp://127.0.0.1:5",
        "tcp://:5",
        "ipc://",
        "tcp://a b:5",
    ],
)
def test_bad_endpoints_rejected(tmp_path: Path, endpoint: str) -> None:
    path = write(tmp_path, f"client_endpoint: '{endpoint}'\n")
    message = error_of(load_orchestrator_config, path)
    assert "client_endpoint: expected a zmq endpoint tcp://HOST:PORT or ipc://PATH" in message
    assert message.endswith(f"got {endpoint!r}")


@pytest.mark.parametrize("endpoint", ["tcp://*:35000", "tcp://127.0.0.1:*"])
def test_connect_endpoints_need_a_real_host_and_port(tmp_path: Path, endpoint: str) -> None:
    message = error_of(load_client_config, write(tmp_path, f"orchestrator: '{endpoint}'\n"))
    assert "orchestrator: expected a zmq endpoint" in message
    assert "(PORT 1-65535)" in message


@given(st.integers(min_value=-100, max_value=70000))
def test_endpoint_port_range(port: int) -> None:
    value = f"tcp://localhost:{port}"
    check = endpoint(bind=False)
    if 1 <= port <= 65535:
        assert check(value, "orchestrator") == value
    else:
        with pytest.raises(Invalid, match="orchestrator: expected a zmq endpoint"):
            check(value, "orchestrator")


@pytest.mark.parametrize(
    ("text", "key", "what"),
    [
        ("driver: nvmet", "driver", "one of auto, nvmetcli, configfs"),
        ("allow_any_host: 'yes'", "allow_any_host", "true or false"),
        ("node: -1", "node", "a node index >= 0"),
        ("node: true", "node", "a node index >= 0"),
        ("name: 'bad name'", "name", "a host name"),
        ("command_timeout: 0", "command_timeout", "a positive number of seconds"),
        ("orchestrator: 5", "orchestrator", "a zmq endpoint"),
    ],
)
def test_server_value_errors(tmp_path: Path, text: str, key: str, what: str) -> None:
    message = error_of(load_server_config, write(tmp_path, text + "\n"))
    assert f": {key}: expected {what}" in message


@pytest.mark.parametrize(
    "prefix", ["nqn.2026-11.io.storalloc", "nqn.2014-08.org.nvmexpress:site-a", "nqn.2001-01.a.b"]
)
def test_good_nqn_prefixes(tmp_path: Path, prefix: str) -> None:
    assert load_server_config(write(tmp_path, f"nqn_prefix: {prefix}\n")).nqn_prefix == prefix


@pytest.mark.parametrize(
    "prefix",
    [
        "iqn.2026-11.io.storalloc",
        "nqn.2026-13.io.storalloc",
        "nqn.2026-00.io.storalloc",
        "nqn.26-11.io.storalloc",
        "nqn.2026-11.storalloc",
        "nqn.2026-11.io.-storalloc",
        "nqn.2026-11.io..storalloc",
        "nqn.2026-11.io.storalloc:",
        "nqn.2026-11.io.storalloc:a/b",
        "nqn.2026-11.io.s" + "x" * 300,
    ],
)
def test_bad_nqn_prefixes(tmp_path: Path, prefix: str) -> None:
    message = error_of(load_server_config, write(tmp_path, f"nqn_prefix: '{prefix}'\n"))
    assert "nqn_prefix: expected an NQN prefix nqn.yyyy-mm.reverse.domain" in message


@pytest.mark.parametrize(
    ("text", "key", "what"),
    [
        ("timeout: yes", "timeout", "a positive number of seconds, got True"),
        ("timeout: -2", "timeout", "a positive number of seconds, got -2"),
        ("hostnqn_file: null", "hostnqn_file", "a non-empty string, got None"),
    ],
)
def test_client_value_errors(tmp_path: Path, text: str, key: str, what: str) -> None:
    message = error_of(load_client_config, write(tmp_path, text + "\n"))
    assert message.endswith(f": {key}: expected {what}")


def system_error(tmp_path: Path, node: str = NODE, disks: str | None = None) -> str:
    if disks is not None:
        node = node.replace(f"[{DISK}]", disks)
    return error_of(load_system, write(tmp_path, node, "sys.yml"))


@pytest.mark.parametrize(
    ("disk", "key", "what"),
    [
        ("capacity: true", "capacity", "a positive number of GB, got True"),
        ("capacity: 0", "capacity", "a positive number of GB, got 0"),
        ("write_bw: -1", "write_bw", "a positive number of GBps, got -1"),
        ("read_bw: '3'", "read_bw", "a positive number of GBps, got '3'"),
        ("path: dev/x", "path", "an absolute path, got 'dev/x'"),
        ("carving: zfs", "carving", "one of lvm, file, got 'zfs'"),
        ("carving: file", "mountpoint", "an absolute path (required when carving is file)"),
        ("vg: -bad", "vg", "an LVM volume group name"),
        ("model: 3", "model", "a string, got 3"),
    ],
)
def test_disk_value_errors(tmp_path: Path, disk: str, key: str, what: str) -> None:
    name = disk.split(":")[0]
    base = {"model": "m", "capacity": "10", "write_bw": "1", "read_bw": "1", "path": "/dev/x"}
    base[name] = disk.split(": ", 1)[1]
    body = ", ".join(f"{k}: {v}" for k, v in base.items())
    message = system_error(tmp_path, disks=f"[{DISK.replace('/dev/x', '/dev/w')}, {{{body}}}]")
    assert f": disks[1].{key}: expected {what}" in message


def test_missing_required_disk_key(tmp_path: Path) -> None:
    message = system_error(tmp_path, disks="[{write_bw: 1, read_bw: 1, path: /dev/x}]")
    assert message.endswith(
        "disks[0].capacity: missing required key, expected a positive number of GB"
    )


@pytest.mark.parametrize(
    ("replace", "key", "what"),
    [
        (("10.0.0.1", "10.0.0.256"), "ipv4", "an IPv4 address like 192.168.1.10, got '10.0.0.256'"),
        (("network_bw: 1", "network_bw: 0"), "network_bw", "a positive number of GBps, got 0"),
        (("hostname: n1", "hostname: ''"), "hostname", "a host name"),
        ((f"[{DISK}]", "[]"), "disks", "a non-empty list of disks, got []"),
        ((f"[{DISK}]", DISK), "disks", "a non-empty list of disks, got {"),
    ],
)
def test_node_value_errors(tmp_path: Path, replace: tuple[str, str], key: str, what: str) -> None:
    message = system_error(tmp_path, NODE.replace(*replace))
    assert f": {key}: expected {what}" in message


@pytest.mark.parametrize(
    ("transport", "key", "what"),
    [
        ("{trtype: fc}", "trtype", "one of tcp, rdma, got 'fc'"),
        ("{trsvcid: 0}", "trsvcid", "a port number 1-65535, got 0"),
        ("{trsvcid: '4420'}", "trsvcid", "a port number 1-65535, got '4420'"),
        ("{adrfam: ipv6}", "adrfam", "one of ipv4, got 'ipv6'"),
        ("tcp", "", "a mapping with trtype, trsvcid, adrfam, got 'tcp'"),
    ],
)
def test_transport_errors(tmp_path: Path, transport: str, key: str, what: str) -> None:
    message = system_error(tmp_path, NODE + f"transport: {transport}\n")
    path = f"transport.{key}" if key else "transport"
    assert f": {path}: expected {what}" in message


def test_duplicate_disk_paths(tmp_path: Path) -> None:
    message = system_error(tmp_path, disks=f"[{DISK}, {DISK}]")
    assert message.endswith(
        "disks[1].path: expected a path not already used by disks[0], got '/dev/x'"
    )


def test_duplicate_volume_groups(tmp_path: Path) -> None:
    other = DISK.replace("/dev/x", "/dev/y").replace("}", ", vg: storalloc-x}")
    message = system_error(tmp_path, disks=f"[{DISK}, {other}]")
    assert "disks[1].vg: expected a vg not already used by disks[0], got 'storalloc-x'" in message


def test_duplicate_hostnames_in_nodes(tmp_path: Path) -> None:
    indented = "".join(f"    {line}\n" for line in NODE.splitlines())
    text = f"nodes:\n  -\n{indented}  -\n{indented}"
    message = error_of(load_system, write(tmp_path, text))
    assert "nodes[1].hostname: expected a hostname not already used by nodes[0], got 'n1'" in (
        message
    )


def test_nodes_cannot_be_mixed_with_node_keys(tmp_path: Path) -> None:
    message = error_of(load_system, write(tmp_path, "hostname: x\nnodes: []\n"))
    assert "hostname: node keys go inside the 'nodes' list" in message


def test_nodes_must_be_a_non_empty_list(tmp_path: Path) -> None:
    message = error_of(load_system, write(tmp_path, "nodes: {a: 1}\n"))
    assert "nodes: expected a non-empty list of nodes, got {'a': 1}" in message
