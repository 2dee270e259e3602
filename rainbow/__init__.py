"""Rainbow: a multi-cluster batch scheduler for Kubernetes."""

from importlib import metadata


def version() -> str:
    """Rainbow's version, as installed ("unknown" when run from a source tree without installing)."""
    try:
        return metadata.version("rainbow-scheduler")
    except metadata.PackageNotFoundError:
        return "unknown"
