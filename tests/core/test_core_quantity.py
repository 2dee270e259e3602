from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rainbow.core import (
    SpecError,
    format_cpu,
    format_duration,
    format_memory,
    parse_cpu,
    parse_duration,
    parse_memory,
)


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        ("500m", 500),
        ("2", 2000),
        ("2.5", 2500),
        (2, 2000),
        (0.5, 500),
        (0.1, 100),
        ("0.1", 100),
        (" 4 ", 4000),
        ("1e3", 1_000_000),
        ("100u", 1),  # Kubernetes rounds sub-millicore requests up
        ("1k", 1_000_000),
        ("+3", 3000),
        ("0", 0),
    ],
)
def test_parse_cpu(value: str | int | float, millis: int) -> None:
    assert parse_cpu(value) == millis


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("8Gi", 8 * 2**30),
        ("512Mi", 512 * 2**20),
        ("1Ki", 1024),
        ("1Ti", 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("1k", 1000),
        ("1M", 10**6),
        ("2G", 2 * 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),
        ("1e3", 1000),
        ("1.5Gi", 3 * 2**29),
        (1024, 1024),
        ("1000", 1000),
        (0, 0),
    ],
)
def test_parse_memory(value: str | int, size: int) -> None:
    assert parse_memory(value) == size


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-3", "cpu: '-3' is negative"),
        (-1, "cpu: -1 is negative"),
        ("abc", "cpu: 'abc' is not a valid quantity"),
        ("", "cpu: '' is not a valid quantity"),
        ("5 m", "cpu: '5 m' is not a valid quantity"),
        ("2Gb", "cpu: '2Gb' is not a valid quantity"),
        ("nan", "cpu: 'nan' is not a finite number"),
        ("-Infinity", "cpu: '-Infinity' is not a finite number"),
        (float("nan"), "cpu: nan is not a finite number"),
        (float("inf"), "cpu: inf is not a finite number"),
        (True, "cpu: True is not a quantity"),
        ("1e999999", "is not a valid quantity"),
        ("1e99", "has an absurd exponent"),
        ("9" * 100, "too long"),
    ],
)
def test_parse_cpu_errors_name_the_value(value: object, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        parse_cpu(value)  # type: ignore[arg-type]
    assert str(info.value).startswith("cpu: ")


def test_errors_use_the_given_field_path() -> None:
    with pytest.raises(SpecError, match=r"^resources\.memory: '-1Gi' is negative$"):
        parse_memory("-1Gi", "resources.memory")
    with pytest.raises(SpecError, match=r"^memory: 'lots' is not a valid quantity"):
        parse_memory("lots")
    with pytest.raises(SpecError, match="unsupported type list"):
        parse_memory([1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("millis", "text"), [(4000, "4"), (500, "500m"), (0, "0"), (1500, "1500m"), (1, "1m")]
)
def test_format_cpu(millis: int, text: str) -> None:
    assert format_cpu(millis) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (16 * 2**30, "16Gi"),
        (512 * 2**20, "512Mi"),
        (1000, "1000"),
        (0, "0"),
        (1536 * 2**20, "1536Mi"),
        (2**60, "1Ei"),
    ],
)
def test_format_memory(size: int, text: str) -> None:
    assert format_memory(size) == text


@given(st.integers(0, 10**12))
def test_cpu_format_round_trips(millis: int) -> None:
    assert parse_cpu(format_cpu(millis)) == millis


@given(st.integers(0, 2**62))
def test_memory_format_round_trips(size: int) -> None:
    assert parse_memory(format_memory(size)) == size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        (0, 0),
        (2.5, 3),  # fractions of a second round up
        ("90s", 90),
        ("45m", 2700),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2d", 172800),
        ("1d2h3m4s", 93784),
        ("0.1s", 1),
        ("30m1h", 5400),  # parts add up in any order
    ],
)
def test_parse_duration(value: str | int | float, seconds: int) -> None:
    assert parse_duration(value, "walltime") == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "walltime: 'abc' is not a duration like 90s, 45m, 1h30m or 2d"),
        ("90", "walltime: '90' is not a duration like"),  # a string needs its unit
        ("", "walltime: '' is not a duration like"),
        ("1h 30m", "walltime: '1h 30m' is not a duration like"),
        ("1H", "walltime: '1H' is not a duration like"),
        ("1w", "walltime: '1w' is not a duration like"),
        ("-5m", "walltime: '-5m' is not a duration like"),
        ("1.h", "walltime: '1.h' is not a duration like"),
        ("1s" * 40, "walltime: '1s1s1s"),
        (True, "walltime: True is not a duration like"),
        ([1], "walltime: [1] is not a duration like"),
        (-1, "walltime: -1 is negative"),
        (float("inf"), "walltime: inf is not a finite number"),
    ],
)
def test_parse_duration_errors(value: object, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_duration(value, "walltime")  # type: ignore[arg-type]
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5400, "1h30m"), (90, "1m30s"), (3600, "1h"), (172800, "2d"), (93784, "1d2h3m4s"), (1, "1s"), (0, "0s")],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(0, 10**9))
def test_duration_format_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds), "walltime") == seconds
