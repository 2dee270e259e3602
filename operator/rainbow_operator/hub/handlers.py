"""kopf handlers for RainbowJob: each a few lines over Hub, JobWatcher and StatusWriter."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from rainbow.client import AsyncRainbowClient
from rainbow_operator import API_GROUP, API_VERSION, RAINBOWJOB_PLURAL
from rainbow_operator.hub.config import HubConfig
from rainbow_operator.hub.kube import Ref, StatusWriter, core_api, custom_objects_api
from rainbow_operator.hub.service import Hub
from rainbow_operator.hub.watcher import JobWatcher

RESOURCE = (API_GROUP, API_VERSION, RAINBOWJOB_PLURAL)
MAX_RETRY_DELAY = 60.0


def configure(settings: kopf.OperatorSettings) -> None:
    """Keep kopf's bookkeeping in our own annotations (status is schema-checked) and post only problems."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.posting.loggers = True  # handler failures (e.g. server unreachable) become Events


def retry_delay(retry: int) -> float:
    """Exponential backoff for kopf retries: 1, 2, 4, ... up to a minute."""
    return float(min(2 ** min(retry, 16), MAX_RETRY_DELAY))


@kopf.index(*RESOURCE)
def rainbowjobs_by_uid(uid: str, namespace: str | None, name: str, **_: Any) -> dict[str, Ref]:
    return {uid: Ref(namespace or "", name, uid)}


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **kwargs: Any) -> None:
    configure(settings)
    config: HubConfig = memo.get("config") or HubConfig.from_env()
    client = AsyncRainbowClient(config.client)
    index: kopf.Index[str, Ref] = kwargs["rainbowjobs_by_uid"]
    writer = StatusWriter(custom_objects_api(), core_api())
    memo.hub = Hub(client, writer, config.remote_namespace, retry_delay)

    def resolve(uid: str) -> Ref | None:
        return next(iter(index.get(uid, ())), None)

    memo.watcher = JobWatcher(memo.hub, resolve, config.backoff_max)
    memo.watch_task = asyncio.create_task(memo.watcher.run(), name="rainbow-job-watch")


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    memo.watch_task.cancel()
    await asyncio.gather(memo.watch_task, return_exceptions=True)
    await memo.hub.client.close()


@kopf.on.create(*RESOURCE)
async def submit(
    spec: kopf.Spec, name: str, namespace: str | None, uid: str, retry: int, memo: Any, **_: Any
) -> None:
    await memo.hub.submit(Ref(namespace or "", name, uid), spec, retry)


@kopf.on.delete(*RESOURCE)
async def cancel(uid: str, status: kopf.Status, retry: int, memo: Any, **_: Any) -> None:
    await memo.hub.cancel(uid, status.get("jobId"), retry)
