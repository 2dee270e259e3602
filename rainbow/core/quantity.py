"""Kubernetes resource quantities: parse to integers, format back exactly."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from rainbow.core.models import SpecError

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exp>[+-]?\d{1,3}))?"
)
_MAX_TEXT = 64
_MAX_EXPONENT = 40


def _bad(field: str, value: object, why: str) -> SpecError:
    return SpecError(f"{field}: {value!r} {why}")


def _exact(value: int | float, field: str) -> Fraction:
    """A number as an exact Fraction (a float as its shortest decimal form); not NaN or infinite."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(field, value, "is not a finite number")
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def parse_quantity(value: str | int | float, field: str = "quantity") -> Fraction:
    """Parse a Kubernetes quantity into an exact non-negative Fraction."""
    if isinstance(value, bool):
        raise _bad(field, value, "is not a quantity")
    if isinstance(value, int | float):
        amount = _exact(value, field)
    elif isinstance(value, str):
        amount = _parse_text(value.strip(), value, field)
    else:
        raise _bad(field, value, f"has unsupported type {type(value).__name__}")
    if amount < 0:
        raise _bad(field, value, "is negative")
    return amount


def _parse_text(text: str, original: str, field: str) -> Fraction:
    if len(text) > _MAX_TEXT:
        raise SpecError(f"{field}: {original[:20]!r}... is too long to be a quantity")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        if text.lower().lstrip("+-") in {"nan", "inf", "infinity"}:
            raise _bad(field, original, "is not a finite number")
        raise _bad(field, original, "is not a valid quantity (examples: 500m, 2, 1.5, 8Gi, 512Mi, 1e3)")
    try:
        amount = Fraction(Decimal(match["num"]))
    except InvalidOperation as exc:  # pragma: no cover - regex guarantees a decimal
        raise _bad(field, original, "is not a valid number") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        amount *= 1024 ** _BINARY[suffix]
    else:
        exponent = int(match["exp"]) if match["exp"] else _DECIMAL[suffix]
        if abs(exponent) > _MAX_EXPONENT:
            raise _bad(field, original, "has an absurd exponent")
        amount *= Fraction(10) ** exponent
    return -amount if match["sign"] == "-" else amount


# Fast paths for the common whole-number forms; everything else goes through exact Fractions.
_WHOLE_CPU = re.compile(r"(\d{1,12})(m?)")
_WHOLE_MEMORY = re.compile(r"(\d{1,15})(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_MEMORY_FACTORS = (
    {None: 1} | {k: 1024**v for k, v in _BINARY.items()} | {k: 10**v for k, v in _DECIMAL.items() if v > 0}
)


def parse_cpu(value: str | int | float, field: str = "cpu") -> int:
    """Parse a CPU quantity ("500m", "2", "2.5", 2, 0.5) into millicores, rounding up."""
    if isinstance(value, str) and (match := _WHOLE_CPU.fullmatch(value)):
        return int(match[1]) if match[2] else int(match[1]) * 1000
    return math.ceil(parse_quantity(value, field) * 1000)


def parse_memory(value: str | int | float, field: str = "memory") -> int:
    """Parse a memory quantity ("8Gi", "512M", "1e3", 1024) into bytes, rounding up."""
    if isinstance(value, str) and (match := _WHOLE_MEMORY.fullmatch(value)):
        return int(match[1]) * _MEMORY_FACTORS[match[2]]
    if type(value) is int and value >= 0:
        return value
    return math.ceil(parse_quantity(value, field))


def format_cpu(millis: int) -> str:
    """Format millicores as "4" when whole cores, else "500m"."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"


def format_memory(n: int) -> str:
    """Format bytes exactly, using the largest binary suffix that divides evenly ("16Gi", "1000")."""
    if n == 0:
        return "0"
    for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        unit = 1024**power
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


#: Seconds in each unit of a duration string.
DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_EXAMPLES = "90s, 45m, 1h30m or 2d"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def duration_length(text: str) -> Fraction | None:
    """The exact seconds of a duration string of number+unit parts ("1h30m", "1.5h", "2d"); None if not one."""
    if len(text) > _MAX_TEXT:
        return None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum((Fraction(Decimal(number)) * DURATION_UNITS[unit] for number, unit in parts), Fraction(0))


def parse_duration(value: str | int | float, where: str) -> int:
    """Whole seconds (fractions rounded up) from a number of seconds or a duration string such as "1h30m"."""
    not_duration = _bad(where, value, f"is not a duration like {DURATION_EXAMPLES}")
    if isinstance(value, bool):
        raise not_duration
    if isinstance(value, str):
        length = duration_length(value)
        if length is None:
            raise not_duration
    elif isinstance(value, int | float):
        length = _exact(value, where)
    else:
        raise not_duration
    if length < 0:
        raise _bad(where, value, "is negative")
    return math.ceil(length)


def format_duration(seconds: int) -> str:
    """Whole seconds as a duration string, largest units first, zero parts left out (5400 -> "1h30m")."""
    if seconds <= 0:
        return f"{seconds}s"
    parts = []
    for unit, size in DURATION_UNITS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def format_wait(seconds: float) -> str:
    """A wait for people: ``45s``, ``12m``, ``3h5m``, ``2d4h``."""
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    minutes = (seconds + 30) // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"
