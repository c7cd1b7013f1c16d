"""Tests for storalloc.orchestrator.timeline: golden pictures (the seed's among them) and rules."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storalloc.orchestrator.timeline import (
    PIPE_COLUMNS,
    Bar,
    NodeRows,
    render_timeline,
    terminal_columns,
)

T0 = 1795606800.0  # 2026-11-25 11:40:00 UTC
H = 3600.0
DAY = 86400.0

# Copied byte for byte from the seed README (orchestrator output for 200 GB, 60 m on ault14).
SEED_PICTURE = """\
┌───┬────────────
│  0│□□□□□□□□□□□□
├---┼------------
│  1│
├---┼------------
│  2│
├---┼------------
│  3│
├---┼------------
│  4│
├---┼------------
│  5│
├---┼------------
│  6│
├---┼------------
│  7│
└───┴────────────"""


def _ault14(disk0: list[Bar]) -> NodeRows:
    return NodeRows(None, [disk0] + [[] for _ in range(7)])


def test_seed_picture_200gb_60min_on_empty_ault14() -> None:
    assert render_timeline([_ault14([Bar(T0, T0 + H, newest=True)])]) == SEED_PICTURE


def test_seed_picture_kept_when_the_terminal_is_wide_enough() -> None:
    node = _ault14([Bar(T0, T0 + H, newest=True)])
    assert render_timeline([node], columns=80) == SEED_PICTURE
    assert render_timeline([node], columns=17) == SEED_PICTURE  # exactly 17 columns wide


def test_two_bars_on_one_disk_older_then_newest_offset() -> None:
    node = NodeRows(None, [[Bar(T0, T0 + H, newest=False), Bar(T0 + 1800, T0 + 5400, newest=True)]])
    assert render_timeline([node]) == (
        "┌───┬──────────────────\n"
        "│  0│■■■■■■■■■■■■\n"
        "│   │      □□□□□□□□□□□□\n"
        "└───┴──────────────────"
    )


def test_several_nodes_with_labels_share_origin_and_width() -> None:
    nodes = [
        NodeRows("node 0 (ault14:0)", [[Bar(T0, T0 + 1800, newest=False)], []]),
        NodeRows("node 1 (ault15:0)", [[], [Bar(T0 + 600, T0 + 3000, newest=True)]]),
    ]
    assert render_timeline(nodes) == (
        "node 0 (ault14:0)\n"
        "┌───┬──────────\n"
        "│  0│■■■■■■\n"
        "├---┼----------\n"
        "│  1│\n"
        "└───┴──────────\n"
        "node 1 (ault15:0)\n"
        "┌───┬──────────\n"
        "│  0│\n"
        "├---┼----------\n"
        "│  1│  □□□□□□□□\n"
        "└───┴──────────"
    )


def test_long_window_switches_to_hour_columns_with_a_header() -> None:
    nodes = [
        NodeRows(
            None,
            [[Bar(T0, T0 + 3 * DAY, newest=False)], [Bar(T0 + DAY, T0 + 2 * DAY, newest=True)]],
        )
    ]
    # 5, 10, 15 and 30 minute columns are 864..144 wide; 1 h gives 72 + 5 = 77 <= 80.
    assert render_timeline(nodes, columns=80).split("\n") == [
        "1 column = 1 h, from 2026-11-25 11:40 UTC",
        "┌───┬" + "─" * 72,
        "│  0│" + "■" * 72,
        "├---┼" + "-" * 72,
        "│  1│" + " " * 24 + "□" * 24,
        "└───┴" + "─" * 72,
    ]


def test_one_column_too_narrow_moves_to_ten_minute_steps() -> None:
    node = _ault14([Bar(T0, T0 + H, newest=True)])
    lines = render_timeline([node], columns=16).split("\n")
    assert lines[0] == "1 column = 10 m, from 2026-11-25 11:40 UTC"
    assert lines[1:4] == ["┌───┬──────", "│  0│□□□□□□", "├---┼------"]
    assert lines[-1] == "└───┴──────"


def test_beyond_the_ladder_columns_grow_by_whole_days_to_fit() -> None:
    node = NodeRows(None, [[Bar(T0, T0 + 400 * DAY, newest=True)]])
    assert render_timeline([node], columns=10).split("\n") == [
        "1 column = 100 d, from 2026-11-25 11:40 UTC",
        "┌───┬" + "─" * 4,
        "│  0│" + "□" * 4,
        "└───┴" + "─" * 4,
    ]


@pytest.mark.parametrize("years", [1, 10, 100])
def test_long_leases_never_exceed_the_width(years: int) -> None:
    node = NodeRows(None, [[Bar(T0, T0 + years * 365 * DAY, newest=True)],
                           [Bar(T0 + DAY, T0 + 2 * DAY, newest=False)]])
    lines = render_timeline([node], columns=200).split("\n")
    assert max(len(line) for line in lines) <= 200
    assert lines[0].startswith("1 column = ")


def test_without_columns_the_seed_step_is_kept_however_long() -> None:
    node = NodeRows(None, [[Bar(T0, T0 + DAY, newest=True)]])
    lines = render_timeline([node]).split("\n")
    assert lines[1] == "│  0│" + "□" * 288


def test_empty_node_draws_every_disk_without_bars() -> None:
    node = NodeRows("node 2 (ault16:0)", [[], [], []])
    assert render_timeline([node]) == (
        "node 2 (ault16:0)\n┌───┬\n│  0│\n├---┼\n│  1│\n├---┼\n│  2│\n└───┴"
    )


def test_empty_node_next_to_a_busy_one_gets_the_same_frame() -> None:
    nodes = [NodeRows(None, [[Bar(T0, T0 + 900, newest=True)]]), NodeRows(None, [[]])]
    assert render_timeline(nodes) == "┌───┬───\n│  0│□□□\n└───┴───\n┌───┬───\n│  0│\n└───┴───"


def test_node_without_disks_and_no_nodes() -> None:
    assert render_timeline([NodeRows(None, [])]) == "┌───┬\n└───┴"
    assert render_timeline([]) == ""


def test_short_bar_still_gets_one_glyph_overhanging_the_frame() -> None:
    node = NodeRows(None, [[Bar(T0, T0 + 60, newest=True)]])
    assert render_timeline([node]) == "┌───┬\n│  0│□\n└───┴"


def test_disk_indices_above_999_widen_the_label_column() -> None:
    disks: list[list[Bar]] = [[] for _ in range(1001)]
    disks[1000] = [Bar(T0, T0 + 600, newest=True), Bar(T0, T0 + 300, newest=False)]
    lines = render_timeline([NodeRows(None, disks)]).split("\n")
    assert lines[0] == "┌────┬──"
    assert lines[1] == "│   0│"
    assert lines[2] == "├----┼--"
    assert lines[-4:] == ["├----┼--", "│1000│□□", "│    │■", "└────┴──"]


def test_explicit_origin_clips_running_bars_and_skips_past_ones() -> None:
    node = NodeRows(
        None,
        [
            [Bar(T0 - 2 * H, T0 - H, newest=False)],  # over: must not crash, not drawn
            [Bar(T0 - H, T0 + H, newest=False), Bar(T0 + 1800, T0 + H, newest=True)],
        ],
    )
    assert render_timeline([node], origin=T0) == (
        "┌───┬────────────\n"
        "│  0│\n"
        "├---┼------------\n"
        "│  1│■■■■■■■■■■■■\n"
        "│   │      □□□□□□\n"
        "└───┴────────────"
    )


def test_only_past_bars_give_an_empty_frame() -> None:
    node = NodeRows(None, [[Bar(T0 - 2 * H, T0 - H, newest=True)]])
    assert render_timeline([node], origin=T0) == "┌───┬\n│  0│\n└───┴"


def test_header_origin_is_the_explicit_origin() -> None:
    node = NodeRows(None, [[Bar(T0, T0 + 10 * DAY, newest=True)]])
    assert render_timeline([node], columns=100, origin=T0 - 600).startswith(
        "1 column = 3 h, from 2026-11-25 11:30 UTC\n"
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_times_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="disk 0 is not finite"):
        render_timeline([NodeRows(None, [[Bar(T0, bad, newest=True)]])])
    with pytest.raises(ValueError, match="origin"):
        render_timeline([], origin=bad)


_bars = st.builds(
    lambda start, length, newest: Bar(T0 + start, T0 + start + length, newest),
    st.integers(0, 30 * 86400),
    st.integers(0, 30 * 86400),
    st.booleans(),
)


@given(
    st.lists(st.lists(st.lists(_bars, max_size=3), max_size=4), min_size=1, max_size=3),
    st.one_of(st.none(), st.integers(8, 300)),
)
def test_drawing_invariants(disks_per_node: list[list[list[Bar]]], columns: int | None) -> None:
    nodes = [NodeRows(None, disks) for disks in disks_per_node]
    lines = render_timeline(nodes, columns=columns).split("\n")
    assert all(line == line.rstrip() for line in lines)
    frames = [line for line in lines if line[0] in "┌├└"]
    assert len({len(line) for line in frames}) == 1  # every frame line equally wide
    glyph_rows = [line for line in lines if line.startswith("│")]
    bars = [bar for disks in disks_per_node for disk in disks for bar in disk]
    assert sum(1 for row in glyph_rows if row.rstrip("□■") != row) == len(bars)
    assert sum(row.count("□") > 0 for row in glyph_rows) == sum(bar.newest for bar in bars)
    header = lines[0].startswith("1 column = ")
    if columns is not None and header:
        assert not lines[0].startswith("1 column = 5 m")
    if columns is None:
        assert not header


def test_terminal_columns_200_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert terminal_columns() == PIPE_COLUMNS == 200


def test_terminal_columns_200_when_stdout_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    assert terminal_columns() == PIPE_COLUMNS


def test_terminal_columns_reads_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeTty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", FakeTty())
    monkeypatch.setenv("COLUMNS", "123")  # shutil.get_terminal_size honours COLUMNS first
    assert terminal_columns() == 123
