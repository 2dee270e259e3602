"""Tokens and secrets: generated, hashed at rest, compared in constant time.

The auth file (YAML) names the registration secret and the users who may submit::

    registrationSecret: sha256:9f86d0...     # or the plain secret
    groups:
      gpu: [gpu-pool, gpu-arm]
    users:
      - name: alice
        token: sha256:2c26b4...
        clusters: [small, "@gpu"]        # names, fnmatch patterns, or @group
      - name: admin
        token: sha256:...
        clusters: ["*"]
        admin: true                      # sees and cancels every job
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rainbow.core.access import ClusterAccess, patterns_allow
from rainbow.server.errors import InvalidArgument, Unauthenticated

HASH_PREFIX = "sha256:"


def new_token(prefix: str) -> str:
    """A fresh random token with a readable prefix (e.g. ``rbc_`` for cluster secrets)."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The at-rest form of a token. Tokens are random, so a plain SHA-256 suffices."""
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(hash_token(token).encode(), stored_hash.encode())


def _as_hash(value: str) -> str:
    return value if value.startswith(HASH_PREFIX) else hash_token(value)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user from the auth file, or a cluster's submit token."""

    name: str
    clusters: tuple[str, ...] = ("*",)
    admin: bool = False

    def may_use(self, cluster: str) -> bool:
        return patterns_allow(self.clusters, cluster)

    def access(self, clusters: tuple[str, ...] = ()) -> ClusterAccess:
        """What a job of this principal may use, narrowed to the job's allow-list ``clusters``."""
        return ClusterAccess(self.name, self.clusters, clusters)


@dataclass(frozen=True)
class User:
    name: str
    token_hash: str
    principal: Principal


@dataclass
class AuthConfig:
    """Registration secret and user tokens, all held as hashes (users are fixed once constructed)."""

    registration_secret_hash: str = ""
    users: list[User] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Looked up by the token's hash: constant work per call however many users there are, and
        # lookup timing can only reveal something about a SHA-256 hash, never about a token.
        self._by_hash = {user.token_hash: user.principal for user in self.users}

    def authenticate_user(self, token: str) -> Principal | None:
        if not token:
            return None
        return self._by_hash.get(hash_token(token))

    def check_registration_secret(self, secret: str) -> None:
        if not token_matches(secret, self.registration_secret_hash):
            raise Unauthenticated("registration secret is missing or wrong")


def _expand(patterns: Sequence[str], groups: Mapping[str, Sequence[str]], where: str) -> tuple[str, ...]:
    expanded: list[str] = []
    for pattern in patterns:
        if pattern.startswith("@"):
            if pattern[1:] not in groups:
                raise InvalidArgument(f"{where}: unknown group {pattern!r}")
            expanded.extend(groups[pattern[1:]])
        else:
            expanded.append(pattern)
    return tuple(expanded)


def parse_auth(doc: Mapping[str, Any], where: str = "auth") -> AuthConfig:
    """Build an AuthConfig from a loaded auth document; raises InvalidArgument naming bad fields."""
    unknown = set(doc) - {"registrationSecret", "groups", "users"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown keys {sorted(unknown)}")
    secret = doc.get("registrationSecret", "")
    if not isinstance(secret, str) or not secret:
        raise InvalidArgument(f"{where}: registrationSecret is required")
    groups = doc.get("groups") or {}
    if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
        raise InvalidArgument(f"{where}: groups must map names to lists of cluster names")
    users: list[User] = []
    names: set[str] = set()
    for index, entry in enumerate(doc.get("users") or []):
        at = f"{where}: users[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise InvalidArgument(f"{at}: needs a name")
        if entry["name"] in names:
            raise InvalidArgument(f"{at}: duplicate user {entry['name']!r}")
        names.add(entry["name"])
        token = entry.get("token")
        if not isinstance(token, str) or not token:
            raise InvalidArgument(f"{at}: needs a token")
        clusters = entry.get("clusters", ["*"])
        if not isinstance(clusters, list) or not all(isinstance(c, str) for c in clusters):
            raise InvalidArgument(f"{at}: clusters must be a list of names or patterns")
        principal = Principal(entry["name"], _expand(clusters, groups, at), bool(entry.get("admin", False)))
        users.append(User(entry["name"], _as_hash(token), principal))
    return AuthConfig(_as_hash(secret), users)


def load_auth(path: str | Path) -> AuthConfig:
    """Read and validate an auth file."""
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle) or {}
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: expected a mapping")
    return parse_auth(doc, str(path))
