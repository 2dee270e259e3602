"""The guard forms of the request messages: the same wire format, with maps and lists countable unparsed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.server import guard
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb

WORDS = st.text(alphabet="abcxyz-_.", max_size=6)
LABELS = st.dictionaries(WORDS, WORDS, max_size=4)
GROUPS = st.lists(
    st.builds(
        pb.NodeGroup,
        resources=st.builds(pb.Resources, cpu_millis=st.integers(0, 10**6), gpus=st.integers(0, 8)),
        count=st.integers(0, 100),
        labels=LABELS,
        gpu_type=WORDS,
    ),
    max_size=4,
)
SPECS = st.builds(
    pb.JobSpec,
    name=WORDS,
    command=st.lists(WORDS, max_size=3),
    env=LABELS,
    node_selector=LABELS,
    clusters=st.lists(WORDS, max_size=3),
)


def _all_map_fields(descriptor: object, seen: set[str]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    name = descriptor.full_name  # type: ignore[attr-defined]
    if name in seen:
        return found
    seen.add(name)
    for field in descriptor.fields:  # type: ignore[attr-defined]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            found.add((name.replace("rainbow.v1.", "rainbow.v1.guard."), field.name))
        elif field.message_type is not None:
            found |= _all_map_fields(field.message_type, seen)
    return found


def test_every_map_of_every_request_is_counted() -> None:
    seen: set[str] = set()
    maps = set().union(
        *(_all_map_fields(m.input_type, seen) for m in api.DESCRIPTOR.services_by_name["Scheduler"].methods)
    )
    assert maps and maps <= guard._MAP_FIELDS


@settings(max_examples=200)
@given(st.lists(st.builds(api.SubmitJobRequest, spec=SPECS, idempotency_key=WORDS), max_size=5))
def test_a_batch_reads_the_same_through_its_guard_form(jobs: list[api.SubmitJobRequest]) -> None:
    request = api.SubmitJobsRequest(jobs=jobs)
    guarded = guard.guard_class(api.SubmitJobsRequest).FromString(request.SerializeToString())
    assert guard.complaint(guarded) == ""
    assert api.SubmitJobsRequest.FromString(guarded.SerializeToString()) == request


@settings(max_examples=200)
@given(GROUPS, GROUPS, st.dictionaries(WORDS, st.floats(allow_nan=False), max_size=3))
def test_a_report_reads_the_same_through_its_guard_form(
    free: list[pb.NodeGroup], total: list[pb.NodeGroup], attributes: dict[str, float]
) -> None:
    request = api.UpdateClusterStateRequest(name="c", free=free, total=total, attributes=attributes)
    guarded = guard.guard_class(api.UpdateClusterStateRequest).FromString(request.SerializeToString())
    assert guard.complaint(guarded) == ""
    assert api.UpdateClusterStateRequest.FromString(guarded.SerializeToString()) == request


def _complaint(request: api.SubmitJobsRequest | api.UpdateClusterStateRequest) -> str:
    return guard.complaint(guard.guard_class(type(request)).FromString(request.SerializeToString()))


def test_each_limit_names_where_it_was_passed() -> None:
    many = {f"k{i}": "v" for i in range(guard.MAX_MAP_ENTRIES + 1)}
    wide = api.SubmitJobRequest(spec=pb.JobSpec(name="ok")), api.SubmitJobRequest(spec=pb.JobSpec(env=many))
    assert _complaint(api.SubmitJobsRequest(jobs=wide)) == (
        f"jobs[1].spec.env: {guard.MAX_MAP_ENTRIES + 1} entries; the limit is {guard.MAX_MAP_ENTRIES}"
    )
    spread = {f"k{i}": "v" for i in range(guard.MAX_MAP_ENTRIES)}
    jobs = [api.SubmitJobRequest(spec=pb.JobSpec(env=spread))] * (
        guard.MAX_TOTAL_MAP_ENTRIES // len(spread) + 1
    )
    assert _complaint(api.SubmitJobsRequest(jobs=jobs)).endswith(
        f"map entries in one request; the limit is {guard.MAX_TOTAL_MAP_ENTRIES}"
    )
    args = ["x"] * (guard.MAX_REPEATED_VALUES + 1)
    assert _complaint(api.SubmitJobsRequest(jobs=[api.SubmitJobRequest(spec=pb.JobSpec(command=args))])) == (
        f"jobs[0].spec.command: {guard.MAX_REPEATED_VALUES + 1} values; the limit is {guard.MAX_REPEATED_VALUES}"
    )
    groups = [pb.NodeGroup(count=1)] * (guard.MAX_REPEATED_MESSAGES + 1)
    assert _complaint(api.UpdateClusterStateRequest(total=groups)) == (
        f"total: {guard.MAX_REPEATED_MESSAGES + 1} elements; the limit is {guard.MAX_REPEATED_MESSAGES}"
    )
