"""Writing RainbowJob status through the Kubernetes API (official client, off the event loop)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes

from rainbow_operator import API_GROUP, API_VERSION, RAINBOWJOB_PLURAL
from rainbow_operator.hub import builders, metrics

log = logging.getLogger(__name__)
CONFLICT_RETRIES = 8
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Ref:
    """One RainbowJob object."""

    namespace: str
    name: str
    uid: str


def custom_objects_api() -> Any:
    """A CustomObjectsApi from the in-cluster service account or KUBECONFIG."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG"):
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    return kubernetes.client.CustomObjectsApi()


def core_api() -> Any:
    """A CoreV1Api on the configuration ``custom_objects_api`` loaded (call that first)."""
    return kubernetes.client.CoreV1Api()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusWriter:
    """Applies status updates one object at a time; stale and no-op updates are skipped.

    Each write reads the object, computes the patch with ``builders.status_patch`` and sends it with
    the object's resourceVersion, so a concurrent writer causes a conflict and a retry, never a
    lost or regressed status. A patch that shows the job's cluster lost or back, or a new run, is
    also posted as an Event on the object (through ``events_api``, a CoreV1Api, when given).
    """

    def __init__(self, api: Any, events_api: Any = None) -> None:
        self.api, self.events_api = api, events_api
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # uid -> (lock, [users])

    async def write(self, ref: Ref, update: Mapping[str, Any]) -> bool:
        lock, users = self._locks.setdefault(ref.uid, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                return await self._write(ref, update)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[ref.uid]

    async def _write(self, ref: Ref, update: Mapping[str, Any]) -> bool:
        for _ in range(CONFLICT_RETRIES):
            obj = await self._call("get_namespaced_custom_object", ref)
            if obj is None or obj.get("metadata", {}).get("uid") != ref.uid:
                metrics.STATUS_PATCHES.labels("gone").inc()
                return False
            patch = builders.status_patch(obj.get("status"), update, _now())
            if patch is None:
                return False
            body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": patch}
            try:
                result = await self._call(
                    "patch_namespaced_custom_object_status", ref, body=body, _content_type=MERGE_PATCH
                )
            except _Conflict:
                metrics.STATUS_PATCHES.labels("conflict").inc()
                continue
            if result is None:
                metrics.STATUS_PATCHES.labels("gone").inc()
                return False
            metrics.STATUS_PATCHES.labels("patched").inc()
            for event in builders.status_events(obj.get("status"), patch):
                await self._post(ref, event)
            return True
        log.warning("status of %s/%s: gave up after %d conflicts", ref.namespace, ref.name, CONFLICT_RETRIES)
        return False

    async def _post(self, ref: Ref, event: tuple[str, str, str]) -> None:
        """Post an Event about ``ref``; a failure is logged (the status already says it)."""
        if self.events_api is None:
            return
        body = builders.event_body(ref.namespace, ref.name, ref.uid, event, _now())
        try:
            await asyncio.to_thread(self.events_api.create_namespaced_event, ref.namespace, body)
        except kubernetes.client.ApiException as error:
            log.warning(
                "event %s on %s/%s: %s %s", event[1], ref.namespace, ref.name, error.status, error.reason
            )

    async def _call(self, method: str, ref: Ref, **kwargs: Any) -> dict[str, Any] | None:
        """The object (dict), None when it does not exist; raises _Conflict on 409."""
        fn = getattr(self.api, method)
        try:
            result: dict[str, Any] = await asyncio.to_thread(
                fn, API_GROUP, API_VERSION, ref.namespace, RAINBOWJOB_PLURAL, ref.name, **kwargs
            )
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                return None
            if error.status == 409:
                raise _Conflict from None
            raise
        return result


class _Conflict(Exception):
    pass
