"""Settings from environment variables (each may also be given as NAME_FILE, read from a mounted file)."""

from __future__ import annotations

import os
from pathlib import Path


def env(name: str, default: str | None = None) -> str:
    """The value of ``name``, or of the file named by ``name_FILE``; raises if neither nor a default exists."""
    value = os.environ.get(name)
    if value is None and os.environ.get(f"{name}_FILE"):
        value = Path(os.environ[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
    if value is None:
        if default is None:
            raise RuntimeError(f"set {name} (or {name}_FILE)")
        return default
    return value


def env_float(name: str, default: float) -> float:
    return float(env(name, str(default)))


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_bool(name: str, default: bool) -> bool:
    """``true``/``false`` (also 1/0, yes/no); anything else is an error naming the variable."""
    value = env(name, "true" if default else "false").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"{name}: expected true or false, got {value!r}")
