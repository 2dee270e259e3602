"""Minimal HTTPS client for the Kubernetes API (stdlib only)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Json = dict[str, Any]


class ApiError(RuntimeError):
    """Non-2xx answer from the API server."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status


class KubeApi:
    """Bearer-token JSON client bound to one API server."""

    def __init__(self, server: str, token: str, ca_file: Path | None = None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self._ctx = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file else ssl._create_unverified_context()
        )

    def request(self, method: str, path: str, body: Json | None = None, timeout: float = 10.0) -> Json:
        """Send one request; return the decoded JSON body (or ``{}``)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=timeout) as resp:
                raw = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode(errors="replace")) from None
        if not raw.strip().startswith("{"):
            return {"text": raw}
        result: Json = json.loads(raw)
        return result

    def get(self, path: str) -> Json:
        """GET ``path``."""
        return self.request("GET", path)

    def create(self, path: str, body: Json) -> Json:
        """POST ``body`` to the collection at ``path``."""
        return self.request("POST", path, body)

    def exists(self, path: str) -> bool:
        """True if GET ``path`` answers 2xx, False on 404."""
        try:
            self.get(path)
            return True
        except ApiError as e:
            if e.status == 404:
                return False
            raise


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.25) -> T:
    """Poll ``check`` until it returns a truthy value; raise TimeoutError with ``what``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, ApiError, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last})" if last else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)
