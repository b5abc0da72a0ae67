"""Compare the shape of two JSON documents: the same keys, recursively, and the same JSON types.

``differences(fixture, actual)`` lists every difference as ``path: what``, e.g. ``result.list[].seq: number in
the fixture, string here``, ``result.list[].tickDirection: missing here``, ``result.list[].fundingCap: extra
here``. Lists are compared element by element against the union of the fixture's elements (a fixture's list of
objects stands for one object type); a list the emulator left empty cannot be compared and is reported.

Two kinds of fixture are lenient, each for a documented reason (see SOURCES.md):
- ``null_is_any``: some hand-written fixtures hold ``null`` where Bybit sends a string; ``null`` there matches
  any type;
- ``numbers_as_strings``: ccxt's recorded responses hold every number as a string (``"retCode": "0"``); a
  fixture string then also matches a number here.
"""

from __future__ import annotations

from typing import Any


def json_type(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int | float):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list):
        return "array"
    return "object"


def _merge(items: list[Any]) -> Any:
    """One representative of a list's elements: objects merged key by key (first value wins)."""
    if items and all(isinstance(i, dict) for i in items):
        merged: dict[str, Any] = {}
        for item in items:
            for k, v in item.items():
                merged.setdefault(k, v)
        return merged
    return items[0]


def differences(fixture: Any, actual: Any, path: str = "", *, null_is_any: bool = False,
                numbers_as_strings: bool = False) -> list[str]:  # fmt: skip
    ft, at = json_type(fixture), json_type(actual)
    where = path or "(top)"
    if ft == "null" and null_is_any:
        return []
    if ft != at and not (numbers_as_strings and ft == "string" and at == "number"):
        return [f"{where}: {ft} in the fixture, {at} here"]
    kw = {"null_is_any": null_is_any, "numbers_as_strings": numbers_as_strings}
    out: list[str] = []
    if ft == "object":
        for k in fixture:
            if k not in actual:
                out.append(f"{path}.{k}: missing here".lstrip("."))
            else:
                out += differences(fixture[k], actual[k], f"{path}.{k}".lstrip("."), **kw)
        out += [f"{path}.{k}: extra here".lstrip(".") for k in actual if k not in fixture]
    elif ft == "array" and fixture:
        if not actual:
            return [f"{where}: empty here, cannot compare"]
        want = _merge(fixture)
        seen: set[str] = set()
        for item in actual:
            for d in differences(want, item, f"{path}[]", **kw):
                if d not in seen:
                    seen.add(d)
                    out.append(d)
    return out
