"""The strategy table and the plug-in loader."""

from __future__ import annotations

import inspect
import re

import pytest

from storalloc.core.cluster import Cluster, Disk, Extent, Node
from storalloc.registry import STRATEGIES, PluginError, load
from storalloc.strategies.base import PlacementRequest


def _cluster() -> Cluster:
    cluster = Cluster()
    disks = [Disk(0, 0, 100.0, 2.0, 2.0), Disk(0, 1, 400.0, 2.0, 2.0)]
    cluster.add_node(Node(0, "n:0", "n", 10.0, disks))
    return cluster


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_entry_loads_with_its_own_name(name: str) -> None:
    cls = load(STRATEGIES, name)
    assert inspect.isclass(cls)
    assert cls.name == name
    strategy = cls()
    request = PlacementRequest(1, (10.0,), 0.0, 60.0)
    placement = strategy.place(request, _cluster())
    assert placement is not None and len(placement) == 1


def test_table_entries_are_module_colon_class() -> None:
    for name, target in STRATEGIES.items():
        module, _, attr = target.partition(":")
        assert module.startswith("storalloc.strategies."), name
        assert attr and attr[0].isupper(), name


def test_random_takes_its_seed_as_keyword() -> None:
    cls = load(STRATEGIES, "random")
    assert cls(seed=7) is not None
    with pytest.raises(TypeError):
        cls(7)


def test_plugin_from_dotted_path() -> None:
    cls = load(STRATEGIES, "tests.plugin_strategy:LargestDisk")
    assert cls.name == "largest_disk"
    strategy = cls(minimum_gb=200.0)
    placement = strategy.place(PlacementRequest(1, (10.0,), 0.0, 60.0), _cluster())
    assert placement == (Extent(0, 1, 10.0),)


def test_unknown_name_lists_every_valid_name() -> None:
    with pytest.raises(PluginError) as info:
        load(STRATEGIES, "wrost_case")
    message = str(info.value)
    assert "wrost_case" in message
    for name in STRATEGIES:
        assert name in message
    assert "pkg.module:Class" in message


def test_bad_module_is_named() -> None:
    with pytest.raises(PluginError, match=re.escape("cannot import module 'tests.no_such_module'")):
        load(STRATEGIES, "tests.no_such_module:Thing")


def test_bad_attribute_is_named() -> None:
    with pytest.raises(PluginError, match="has no 'Nope'"):
        load(STRATEGIES, "tests.plugin_strategy:Nope")
