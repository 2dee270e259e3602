"""A job as a Flux jobspec, for clusters that run Flux jobspecs (upstream rainbow's clusters)."""

from __future__ import annotations

from rainbow.core.jobspec import JobSpec

#: The slot label of a rendered job's task.
TASK_SLOT = "task"


def to_flux(spec: JobSpec) -> dict[str, object]:
    """The Flux document the job was submitted as, or else a canonical Flux jobspec v1 (RFC 25)
    asking for the same: ``nodes`` nodes, each with one slot of the node's share (cpu rounded up to
    whole cores, GPUs, memory in bytes), the command run once per node, and the job's name,
    environment, queue and walltime as Flux's system attributes. What Flux has no words for (the
    image, node labels, GPU type) is kept under ``attributes.user``."""
    if spec.flux is not None:
        return dict(spec.flux)
    per_node = spec.request.per_node
    slot: list[dict[str, object]] = [{"type": "core", "count": max(1, -(-per_node.cpu_millis // 1000))}]
    if per_node.gpus:
        slot.append({"type": "gpu", "count": per_node.gpus})
    if per_node.memory_bytes:
        slot.append({"type": "memory", "count": per_node.memory_bytes, "unit": "B"})
    system: dict[str, object] = {"job": {"name": spec.name}}
    if spec.env:
        system["environment"] = dict(spec.env)
    if spec.queue:
        system["queue"] = spec.queue
    if spec.walltime:
        system["duration"] = spec.walltime
    attributes: dict[str, object] = {"system": system}
    user = {
        key: value
        for key, value in (
            ("image", spec.image),
            ("nodeSelector", dict(spec.request.node_selector)),
            ("gpuType", spec.request.gpu_type),
        )
        if value
    }
    if user:
        attributes["user"] = user
    return {
        "version": 1,
        "resources": [
            {
                "type": "node",
                "count": spec.request.nodes,
                "with": [{"type": "slot", "count": 1, "label": TASK_SLOT, "with": slot}],
            }
        ],
        "tasks": [{"command": list(spec.command), "slot": TASK_SLOT, "count": {"per_slot": 1}}],
        "attributes": attributes,
    }
