"""The chaos harness itself: a member cluster's kube-apiserver paused and resumed, stopped and started."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.chaos.k8s import ApiServer
from tests.chaos.members import JOB_NAMESPACE
from tests.k8s.helpers import Kube, poll

pytestmark = pytest.mark.k8s


def answers(kube: Kube) -> bool:
    proc = kube.run("get", "namespace", JOB_NAMESPACE, "--request-timeout=2s", check=False)
    return proc.returncode == 0


@pytest.mark.timeout(240)
def test_the_member_apiserver_can_be_paused_and_stopped(member: Kube) -> None:
    apiserver = ApiServer(member.cluster)
    first = apiserver.record().pid
    with apiserver.paused():
        assert not answers(member)
    assert answers(member)
    started = time.monotonic()
    with apiserver.stopped():
        assert not answers(member)
        assert apiserver.record_log()  # where the next one logs
    restart = time.monotonic() - started
    # The same cluster again: same address, credentials and objects (etcd kept them).
    assert answers(member) and apiserver.record().pid != first
    print(f"kube-apiserver stopped and started again in {restart:.1f}s")
    # The controllers, scheduler and kwok found it again: a Job runs to completion. Their informers
    # back off between relists up to 30 s doubled by jitter, [30, 60) s, and only reset after two
    # healthy minutes (client-go's reflector): after outages in earlier tests, a minute can pass
    # before each of them lists again.
    name = f"after-restart-{uuid.uuid4().hex[:6]}"
    member.apply(job(name), JOB_NAMESPACE)
    poll(
        f"Job {name} to complete",
        lambda: (member.get("job", name, "-n", JOB_NAMESPACE).get("status") or {}).get("succeeded") == 1,
        timeout=150,
    )
    member.run("delete", "job", name, "-n", JOB_NAMESPACE, "--wait=false")


def job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {"rainbow.test/duration": "1s"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]},
            },
        },
    }
