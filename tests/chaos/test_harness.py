"""The chaos harness itself: a member cluster's kube-apiserver paused and resumed, stopped and started."""

from __future__ import annotations

import time

import pytest

from tests.chaos.k8s import ApiServer
from tests.chaos.members import JOB_NAMESPACE
from tests.k8s.helpers import Kube

pytestmark = pytest.mark.k8s


def answers(kube: Kube) -> bool:
    proc = kube.run("get", "namespace", JOB_NAMESPACE, "--request-timeout=2s", check=False)
    return proc.returncode == 0


@pytest.mark.timeout(120)
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
