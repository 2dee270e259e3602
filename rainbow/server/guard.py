"""A first, cheap look at large requests: maps and repeated messages are counted before the real parse.

The protobuf runtime parses a map in time that grows faster than the map (here: 40,000 entries
15 ms, 160,000 entries 245 ms, 320,000 entries 1.4 s), and requests are parsed on the server's
event loop. So a request larger than ``GUARD_ABOVE_BYTES`` is first parsed with guard classes:
the same messages, except that every map is a repeated bytes field (its wire form is the same) and
every message field has the guard form of its type. Counting is then free, and the real parse
only happens when no map has more than ``MAX_MAP_ENTRIES`` entries, all maps together no more than
``MAX_TOTAL_MAP_ENTRIES``, and no list more than ``MAX_REPEATED_MESSAGES`` messages or
``MAX_REPEATED_VALUES`` values (so the Python work that follows the parse is bounded too).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from rainbow.v1 import scheduler_pb2, types_pb2

GUARD_ABOVE_BYTES = 64 * 1024
MAX_MAP_ENTRIES = 4096
MAX_TOTAL_MAP_ENTRIES = 200_000
MAX_REPEATED_MESSAGES = 20_000
MAX_REPEATED_VALUES = 32_768

_PACKAGE, _GUARD_PACKAGE = ".rainbow.v1.", ".rainbow.v1.guard."
_MAP_FIELDS: set[tuple[str, str]] = set()  # (guard message full name, field name) of former maps


def _rewrite(message: descriptor_pb2.DescriptorProto, scope: str) -> None:
    """Point ``message`` (named ``scope + message.name`` in rainbow.v1) at guard types; maps become bytes."""
    full = f"{scope}{message.name}"
    entries = {
        f"{_PACKAGE}{full}.{nested.name}" for nested in message.nested_type if nested.options.map_entry
    }
    for field in message.field:
        if field.type_name in entries:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            field.ClearField("type_name")
            _MAP_FIELDS.add((f"{_GUARD_PACKAGE.strip('.')}.{full}", field.name))
        elif field.type_name.startswith(_PACKAGE):
            field.type_name = _GUARD_PACKAGE + field.type_name.removeprefix(_PACKAGE)
    for nested in message.nested_type:
        _rewrite(nested, f"{full}.")


def _guard_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in (types_pb2, scheduler_pb2):  # dependencies first
        proto = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        proto.name = f"guard/{proto.name}"
        proto.package = _GUARD_PACKAGE.strip(".")
        proto.dependency[:] = [f"guard/{name}" for name in proto.dependency]
        proto.ClearField("service")
        for message in proto.message_type:
            _rewrite(message, "")
        pool.Add(proto)
    return pool


_POOL = _guard_pool()


def guard_class(message: type[Message]) -> type[Message]:
    """The guard form of a ``rainbow.v1`` message class."""
    name = message.DESCRIPTOR.full_name.removeprefix(_PACKAGE.lstrip("."))
    return message_factory.GetMessageClass(
        _POOL.FindMessageTypeByName(_GUARD_PACKAGE.strip(".") + "." + name)
    )


def complaint(message: Message) -> str:
    """Why a guard-parsed request is refused before its real parse ('' when it is not)."""
    total = [0]
    return _check(message, "", total)


_MAP, _ONE, _MANY, _VALUES = 0, 1, 2, 3


def _plan(descriptor: Any) -> list[tuple[str, int]]:
    """The fields of a guard message worth a look: maps, and messages that hold maps or lists."""
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        plan = _PLANS[descriptor.full_name] = []  # a cycle sees it empty; rainbow.v1 has none
        for field in descriptor.fields:
            if (descriptor.full_name, field.name) in _MAP_FIELDS:
                plan.append((field.name, _MAP))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                if field.is_repeated:
                    plan.append((field.name, _MANY))
                elif _plan(field.message_type):
                    plan.append((field.name, _ONE))
            elif field.is_repeated:
                plan.append((field.name, _VALUES))
    return plan


_PLANS: dict[str, list[tuple[str, int]]] = {}


def _check(message: Message, path: str, total: list[int]) -> str:
    for name, kind in _plan(message.DESCRIPTOR):
        where = f"{path}{name}"
        if kind == _ONE:
            if message.HasField(name) and (found := _check(getattr(message, name), f"{where}.", total)):
                return found
            continue
        value: Any = getattr(message, name)
        if kind == _MAP:
            total[0] += len(value)
            if len(value) > MAX_MAP_ENTRIES:
                return f"{where}: {len(value)} entries; the limit is {MAX_MAP_ENTRIES}"
            if total[0] > MAX_TOTAL_MAP_ENTRIES:
                return f"{total[0]} map entries in one request; the limit is {MAX_TOTAL_MAP_ENTRIES}"
            continue
        if kind == _VALUES:
            if len(value) > MAX_REPEATED_VALUES:
                return f"{where}: {len(value)} values; the limit is {MAX_REPEATED_VALUES}"
            continue
        if len(value) > MAX_REPEATED_MESSAGES:
            return f"{where}: {len(value)} elements; the limit is {MAX_REPEATED_MESSAGES}"
        if value and _plan(value[0].DESCRIPTOR):
            for index, item in enumerate(value):
                if found := _check(item, f"{where}[{index}].", total):
                    return found
    return ""
