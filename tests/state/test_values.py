"""Values as pages show them: depth measured and cut without recursion."""

from __future__ import annotations

from typing import Any

from sessions_app.state.store import ListPreview
from sessions_app.state.values import bounded, json_depth


def nested(levels: int, leaf: Any = 0) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"k": value}
    return value


def test_json_depth_counts_levels_of_containers() -> None:
    assert [json_depth(v) for v in (1, "x", {}, [], {"a": [1]}, [[], [[{}]]])] == [0, 0, 1, 1, 2, 4]
    assert json_depth(nested(50_000)) == 50_000
    assert json_depth(nested(50_000), stop=10) == 11  # looked no further


def test_bounded_returns_a_shallow_value_itself() -> None:
    value = {"a": nested(63)}
    assert bounded(value, 64) is value


def test_bounded_cuts_below_the_limit_and_tells_different_cuts_apart() -> None:
    one, two = bounded({"a": nested(900, 1)}, 3), bounded({"a": nested(900, 2)}, 3)

    cut = one["a"]["k"]["k"]
    assert cut.startswith("{…} 1 key, nested deeper than 3 levels: not shown (#")
    assert one != two
    assert json_depth(one) == 3


def test_bounded_keeps_a_list_preview_and_its_total() -> None:
    preview = ListPreview([nested(10)])
    preview.total = 7
    cut = bounded({"posts": preview}, 4)["posts"]
    assert isinstance(cut, ListPreview)
    assert cut.total == 7
