"""Typed records to JSON and back: the one place that knows how a dataclass becomes JSON.

``to_jsonable`` keeps numbers as numbers; ``from_jsonable`` rebuilds a dataclass from
parsed JSON using its type hints and refuses anything else: a missing or extra field,
a wrong type, a non-finite number. Its error names the JSON path of the first problem,
so that a malformed file is reported in one line.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_FILE_BYTES = 256 * 2**20


class DecodeError(ValueError):
    """Parsed JSON that does not fit the record it should hold; the message names where."""


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, paths and containers to JSON types; keeps numbers as numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [to_jsonable(v) for v in value]
    return value


def _reject_constant(name: str):
    raise DecodeError(f"{name} is not a JSON number")


def read_json(path: Path) -> Any:
    """Parse a JSON file strictly: NaN and Infinity are refused, depth and size bounded.

    Raises OSError (unreadable), DecodeError (not strict JSON, too big, too deep).
    """
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DecodeError(f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    text = path.read_bytes().decode("utf-8")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise DecodeError(f"not JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise DecodeError("nested too deeply to be a report") from None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def from_jsonable(tp: Any, data: Any, where: str = "$") -> Any:
    """``data`` (parsed JSON) as an instance of ``tp``; DecodeError naming the path otherwise."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None:
            if type(None) in options:
                return None
            raise DecodeError(f"{where}: expected {_type_name(tp)}, got null")
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return from_jsonable(option, data, where)
            except DecodeError as error:
                errors.append(error)
        raise errors[0]
    if origin is typing.Literal:
        if data not in typing.get_args(tp):
            raise DecodeError(f"{where}: expected one of {list(typing.get_args(tp))}, got {data!r}")
        return data
    if origin in (list, tuple, frozenset):
        if not isinstance(data, list):
            raise DecodeError(f"{where}: expected a list, got {_json_type(data)}")
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(data) != len(args):
                raise DecodeError(f"{where}: expected {len(args)} items, got {len(data)}")
            return tuple(from_jsonable(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True)))
        item = args[0] if args else Any
        values = [from_jsonable(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return origin(values)
    if origin is dict:
        if not isinstance(data, dict):
            raise DecodeError(f"{where}: expected an object, got {_json_type(data)}")
        _, value_type = typing.get_args(tp) or (str, Any)
        return {key: from_jsonable(value_type, value, f"{where}.{key}") for key, value in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass(tp, data, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError:
            raise DecodeError(f"{where}: expected one of {[m.value for m in tp]}, got {data!r}") from None
    return _scalar(tp, data, where)


def _scalar(tp: type, data: Any, where: str) -> Any:
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise DecodeError(f"{where}: expected a number, got {_json_type(data)}")
        if not math.isfinite(data):
            raise DecodeError(f"{where}: expected a finite number, got {data}")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise DecodeError(f"{where}: expected an integer, got {_json_type(data)}")
        return data
    if tp in (str, bool):
        if not isinstance(data, tp):
            raise DecodeError(f"{where}: expected a {'string' if tp is str else 'boolean'}, got {_json_type(data)}")
        return data
    if tp is Path:
        return Path(from_jsonable(str, data, where))
    raise TypeError(f"from_jsonable cannot decode {tp!r}")  # a bug in a record's annotations


def _dataclass(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise DecodeError(f"{where}: expected an object, got {_json_type(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    extra = sorted(set(data) - set(fields))
    if extra:
        raise DecodeError(f"{where}: unexpected field {extra[0]!r}")
    hints = _hints(cls)
    values = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise DecodeError(f"{where}: missing field {name!r}")
            continue
        values[name] = from_jsonable(hints[name], data[name], f"{where}.{name}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as error:  # a record's own __post_init__ checks
        raise DecodeError(f"{where}: {error}") from None


def _json_type(data: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(data), "a number" if isinstance(data, (int, float)) else type(data).__name__)
