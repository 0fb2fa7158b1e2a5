"""Typed records from JSON: every mismatch is a DecodeError naming the JSON path."""

from __future__ import annotations

import dataclasses
import enum

import pytest

from envcheck.codec import DecodeError, from_jsonable, read_json, to_jsonable


class Colour(str, enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Inner:
    values: list[float]
    pair: tuple[int, int] = (0, 0)


@dataclasses.dataclass
class Outer:
    name: str
    inner: Inner
    colour: Colour = Colour.RED
    maybe: int | None = None
    table: dict[str, int] = dataclasses.field(default_factory=dict)


def test_round_trip():
    value = Outer("x", Inner([1.0, 2.5], (3, 4)), maybe=5, table={"a": 1})
    assert from_jsonable(Outer, to_jsonable(value)) == value


@pytest.mark.parametrize(("data", "message"), [
    ({"inner": {"values": []}}, "$: missing field 'name'"),
    ({"name": "x", "inner": {"values": []}, "extra": 1}, "$: unexpected field 'extra'"),
    ({"name": 3, "inner": {"values": []}}, "$.name: expected a string, got a number"),
    ({"name": "x", "inner": {"values": [1, "2"]}}, "$.inner.values[1]: expected a number, got a string"),
    ({"name": "x", "inner": {"values": [True]}}, "$.inner.values[0]: expected a number, got a boolean"),
    ({"name": "x", "inner": {"values": [float("nan")]}}, "$.inner.values[0]: expected a finite number"),
    ({"name": "x", "inner": {"values": [], "pair": [1]}}, "$.inner.pair: expected 2 items, got 1"),
    ({"name": "x", "inner": {"values": []}, "colour": "blue"}, "$.colour: expected one of ['red']"),
    ({"name": "x", "inner": [[[]]]}, "$.inner: expected an object, got a list"),
    ({"name": "x", "inner": {"values": []}, "maybe": 1.5}, "$.maybe: expected an integer, got a number"),
])
def test_mismatches_name_the_path(data, message):
    with pytest.raises(DecodeError) as error:
        from_jsonable(Outer, data)
    assert str(error.value).startswith(message)


def test_strict_json_refuses_nan_and_deep_nesting(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": NaN}')
    with pytest.raises(DecodeError, match="NaN is not a JSON number"):
        read_json(path)
    path.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(DecodeError, match="nested too deeply"):
        read_json(path)
