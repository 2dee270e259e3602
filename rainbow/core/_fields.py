"""Typed field access on loosely typed documents, with SpecErrors naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rainbow.core.models import SpecError

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_HELP = "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"


def path(where: str, key: str | int) -> str:
    """Join a field path: ``path("resources", "cpu") == "resources.cpu"``."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def type_name(value: object) -> str:
    """A short, user-facing type name."""
    names = {dict: "mapping", list: "list", str: "string", int: "integer", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def mapping(value: object, where: str) -> Mapping[str, object]:
    """``value`` as a mapping with string keys."""
    if not isinstance(value, Mapping):
        raise SpecError(f"{where or 'document'}: expected a mapping, got {type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise SpecError(f"{where or 'document'}: keys must be strings, got {key!r}")
    return value


def check_keys(
    doc: Mapping[str, object], where: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> None:
    """Reject unknown keys and report the first missing required key."""
    allowed = set(allowed)
    for key in doc:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            raise SpecError(f"{path(where, key)}: unknown field (expected one of: {hint})")
    for key in required:
        if key not in doc:
            raise SpecError(f"{path(where, key)}: required field is missing")


def get_int(doc: Mapping[str, object], key: str, where: str, default: int) -> int:
    """An integer field (booleans rejected)."""
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{path(where, key)}: expected an integer, got {type_name(value)} {value!r}")
    return value


def get_str(doc: Mapping[str, object], key: str, where: str, default: str = "") -> str:
    """A string field."""
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"{path(where, key)}: expected a string, got {type_name(value)} {value!r}")
    return value


def get_label(doc: Mapping[str, object], key: str, where: str) -> str:
    """An optional DNS-label string field (RFC 1123 label); missing or empty reads as ``""``."""
    value = get_str(doc, key, where)
    if value and (len(value) > 63 or not DNS_LABEL.fullmatch(value)):
        raise SpecError(f"{path(where, key)}: {value[:80]!r} {DNS_LABEL_HELP}")
    return value


def get_int_range(doc: Mapping[str, object], key: str, where: str, low: int, high: int) -> int:
    """An optional integer field (default 0, booleans rejected) between ``low`` and ``high``."""
    value = get_int(doc, key, where, 0)
    if value < low:
        raise SpecError(f"{path(where, key)}: {value} is below the minimum of {low}")
    if value > high:
        raise SpecError(f"{path(where, key)}: {value} exceeds the maximum of {high}")
    return value


def str_list(value: object, where: str) -> tuple[str, ...]:
    """A list of strings."""
    if not isinstance(value, list | tuple):
        raise SpecError(f"{where}: expected a list of strings, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise SpecError(f"{path(where, i)}: expected a string, got {type_name(item)} {item!r}")
    return tuple(value)


def str_map(value: object, where: str, numbers_ok: bool = False) -> dict[str, str]:
    """A mapping of strings to strings; with ``numbers_ok`` ints and floats become strings."""
    result: dict[str, str] = {}
    for key, item in mapping(value, where).items():
        if numbers_ok and isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise SpecError(f"{path(where, key)}: expected a string, got {type_name(item)} {item!r}")
        result[key] = item
    return result
