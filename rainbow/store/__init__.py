"""Durable state behind a small interface; SQLite is the embedded default."""

from rainbow.store.base import Store, StoreError
from rainbow.store.records import ClusterRecord, JobRecord
from rainbow.store.sqlite import SQLiteStore


def open_store(url: str) -> Store:
    """Open a store from a SQLite file path or a ``sqlite:///path`` URL."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    if "://" in url:
        raise StoreError(f"unsupported database URL {url!r}: this release stores state in a SQLite file")
    return SQLiteStore(url)


__all__ = ["ClusterRecord", "JobRecord", "SQLiteStore", "Store", "StoreError", "open_store"]
