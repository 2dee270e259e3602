"""The few Kubernetes API calls the agent makes (official client, run in threads)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Mapping
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from rainbow_operator.agent.jobs import ATTEMPT_LABEL, JOB_ID_LABEL

Obj = dict[str, Any]


def api_client() -> Any:
    """An ApiClient from $KUBECONFIG (or ~/.kube/config), else the in-cluster service account."""
    if os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config")):
        return kubernetes.config.new_client_from_config()  # type: ignore[no-untyped-call]
    config = kubernetes.client.Configuration()
    kubernetes.config.load_incluster_config(client_configuration=config)  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient(config)


#: What a Kubernetes API call may raise: a refusal (ApiException), or no answer at all (the socket's
#: OSError, or urllib3's MaxRetryError once its own retries of a refused connection are spent).
KUBE_ERRORS: tuple[type[Exception], ...] = (ApiException, OSError, urllib3.exceptions.HTTPError)


def unanswered(error: BaseException) -> bool:
    """True when the API server did not answer (as opposed to answering with an error)."""
    return not isinstance(error, ApiException) or status_of(error) >= 500


def status_of(error: BaseException) -> int:
    return int(getattr(error, "status", 0) or 0)


class Kube:
    """Async wrappers; Kubernetes failures raise one of ``KUBE_ERRORS``."""

    def __init__(self, client: Any) -> None:
        self.core = kubernetes.client.CoreV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)

    @staticmethod
    def _raw(response: Any) -> Obj:
        data: Obj = json.loads(response.data)
        return data

    async def list_nodes(self) -> Obj:
        """The NodeList as plain dicts (``items``, ``metadata.resourceVersion``)."""
        return self._raw(await asyncio.to_thread(self.core.list_node, _preload_content=False))

    async def list_pods(self) -> Obj:
        """Non-terminal pods in all namespaces, as plain dicts."""
        response = await asyncio.to_thread(
            self.core.list_pod_for_all_namespaces,
            field_selector="status.phase!=Succeeded,status.phase!=Failed",
            _preload_content=False,
        )
        return self._raw(response)

    async def job_pods(self, namespace: str, job_id: int, attempt: int = 1) -> list[Obj]:
        """The pods of one run of a job (the first run's pods may predate the attempt label)."""
        selector = f"{JOB_ID_LABEL}={job_id}" + (f",{ATTEMPT_LABEL}={attempt}" if attempt > 1 else "")
        response = await asyncio.to_thread(
            self.core.list_namespaced_pod,
            namespace,
            label_selector=selector,
            _preload_content=False,
        )
        items: list[Obj] = self._raw(response).get("items") or []
        return items

    async def create_job(self, manifest: Obj) -> bool:
        """Create a Job; False if one of that name already exists (and is not being deleted)."""
        namespace = manifest["metadata"]["namespace"]
        body: Any = manifest
        name = manifest["metadata"]["name"]
        for _ in range(40):
            try:
                await asyncio.to_thread(self.batch.create_namespaced_job, namespace, body)
                return True
            except ApiException as error:
                if error.status != 409:
                    raise
            if not await self._being_deleted(namespace, name):
                return False
            await asyncio.sleep(0.25)  # an earlier Job of that name is going away: create it anew
        return False

    async def read_job(self, namespace: str, name: str) -> Obj | None:
        """A Job as a plain dict, or None if there is none of that name."""
        try:
            response = await asyncio.to_thread(
                self.batch.read_namespaced_job, name, namespace, _preload_content=False
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return self._raw(response)

    async def _being_deleted(self, namespace: str, name: str) -> bool:
        try:
            job = await asyncio.to_thread(self.batch.read_namespaced_job, name, namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return job.metadata is not None and job.metadata.deletion_timestamp is not None

    async def delete_job(self, namespace: str, name: str) -> bool:
        """Delete a Job and (in the background) its pods; False if it did not exist."""
        try:
            await asyncio.to_thread(
                self.batch.delete_namespaced_job, name, namespace, propagation_policy="Background"
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's decoded data, or None if it does not exist."""
        try:
            secret = await asyncio.to_thread(self.core.read_namespaced_secret, name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    async def write_secret(
        self, namespace: str, name: str, data: Mapping[str, str], labels: Mapping[str, str]
    ) -> None:
        """Create or replace an Opaque Secret."""
        body: Any = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "stringData": dict(data),
        }
        try:
            await asyncio.to_thread(self.core.create_namespaced_secret, namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise
            await asyncio.to_thread(self.core.replace_namespaced_secret, name, namespace, body)
