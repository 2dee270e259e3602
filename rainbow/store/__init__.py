"""Durable state behind a small interface; SQLite is the embedded default, PostgreSQL the shared one."""

from rainbow.store.base import Store, StoreError, StoreFenced, StoreUnavailable
from rainbow.store.records import ClusterRecord, JobRecord
from rainbow.store.sqlite import SQLiteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str) -> Store:
    """Open a store: a SQLite file path or ``sqlite:///path`` URL, or a ``postgresql://`` URL."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(POSTGRES_SCHEMES):
        from rainbow.store.postgres import PostgresStore  # psycopg is loaded only when used

        return PostgresStore(url)
    if "://" in url:
        raise StoreError(
            f"unsupported database URL scheme in {_redact(url)!r}: use a SQLite file path, "
            "sqlite:///path or postgresql://user@host:port/dbname"
        )
    return SQLiteStore(url)


def _redact(url: str) -> str:
    """``url`` without the password it may carry (for logs and messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else url


__all__ = [
    "ClusterRecord",
    "JobRecord",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreFenced",
    "StoreUnavailable",
    "open_store",
]
