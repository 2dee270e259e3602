"""Durable state behind a small interface; SQLite is the embedded default."""

from rainbow.store.base import Store, StoreError
from rainbow.store.records import ClusterRecord, JobRecord
from rainbow.store.sqlite import SQLiteStore


def open_store(url: str) -> Store:
    """Open a store from a path or URL: a file path or ``sqlite:///path`` (default) ."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgres://", "postgresql://")):
        raise StoreError("PostgreSQL is not supported by this release; use a SQLite file path")
    return SQLiteStore(url)


__all__ = ["ClusterRecord", "JobRecord", "SQLiteStore", "Store", "StoreError", "open_store"]
