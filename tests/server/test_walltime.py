"""A job's walltime over real gRPC: submitted in either form, kept, and given back by every read."""

from __future__ import annotations

import json

import pytest

from rainbow.client import RainbowClient, RainbowClientError
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, cpu_nodes
from tests.core.test_core_flux import RFC25_EXAMPLE


def test_a_submitted_walltime_is_kept_and_read_back(alice: RainbowClient) -> None:
    submitted = alice.submit({"name": "timed", "command": ["true"], "walltime": "1h30m"}).job
    assert submitted.spec.walltime_seconds == 5400
    assert alice.get_job(submitted.id).spec.walltime_seconds == 5400
    (listed,) = alice.list_jobs()
    assert listed.spec.walltime_seconds == 5400
    untimed = alice.submit({"name": "untimed", "command": ["true"]}).job
    assert alice.get_job(untimed.id).spec.walltime_seconds == 0


def test_a_flux_duration_is_the_walltime_unless_one_is_given(alice: RainbowClient) -> None:
    flux = alice.submit(RFC25_EXAMPLE).job  # attributes.system.duration: 3600
    assert alice.get_job(flux.id).spec.walltime_seconds == 3600
    message = pb.JobSpec(flux_jobspec=json.dumps(RFC25_EXAMPLE), walltime_seconds=120)
    override = alice.submit(message).job
    assert alice.get_job(override.id).spec.walltime_seconds == 120


def test_the_cluster_receives_the_walltime(alice: RainbowClient) -> None:
    secret = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(2)]).secret
    job = alice.submit({"name": "timed", "command": ["true"], "walltime": 90}).job
    (received,) = alice.receive("a", secret, max_jobs=10).jobs
    assert (received.id, received.spec.walltime_seconds) == (job.id, 90)


@pytest.mark.parametrize(
    ("walltime", "problem"),
    [
        (-1, "walltime: -1 is negative"),
        (31_536_001, "walltime: 31536001 is not between 1s and 365d"),
    ],
)
def test_a_walltime_out_of_range_is_refused(alice: RainbowClient, walltime: int, problem: str) -> None:
    with pytest.raises(RainbowClientError) as refused:
        alice.submit(pb.JobSpec(name="bad", command=["true"], walltime_seconds=walltime))
    assert refused.value.code == "INVALID_ARGUMENT" and problem in str(refused.value)
