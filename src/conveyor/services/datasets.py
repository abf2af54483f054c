"""A job's items, read as they stream: an inline list, or an uploaded JSON array / JSONL.

Nothing here holds more than one item (plus the parser's buffer) at a time, so a
100 MB dataset costs the server what one chunk of it does. Every item is held to
the rule both databases store (``domain.validation``); the first item that breaks
it, or the first byte that is not JSON, is a ``400`` naming where it is.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import ijson

from conveyor.domain.validation import find_problem
from conveyor.errors import InvalidInput
from conveyor.store.artifacts import Artifact

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"the dataset is not a JSON array or JSONL: {message}",
        details=[{"field": field, "message": message}],
    )


def check_item(item: Any, field: str) -> Any:
    problem = find_problem(item)
    if problem is not None:
        where = f"{field}.{problem.field}" if problem.field else field
        raise InvalidInput(
            f"item cannot be stored: {problem.message}",
            details=[{"field": where, "message": problem.message}],
        )
    return item


async def inline_items(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item  # checked by the request body's own validation


def is_jsonl(artifact: Artifact) -> bool:
    media = artifact.content_type.split(";", 1)[0].strip().lower()
    return media in JSONL_TYPES or artifact.name.lower().endswith(JSONL_SUFFIXES)


async def dataset_items(artifact: Artifact, data: AsyncIterator[bytes]) -> AsyncIterator[Any]:
    """The items of an uploaded dataset: JSONL by its name or type, else a JSON array."""
    source = _Peeked(data)
    first = await source.first_byte()
    if is_jsonl(artifact) or (first is not None and first != b"["):
        items = _jsonl_items(source)
    else:
        items = _array_items(source)
    async for item in items:
        yield item


class _Peeked:
    """The byte stream with its first non-blank byte looked at, and a ``read`` for ijson."""

    def __init__(self, data: AsyncIterator[bytes]) -> None:
        self._data = data
        self._buffer = b""

    async def first_byte(self) -> bytes | None:
        while not self._buffer.strip():
            try:
                self._buffer += await anext(self._data)
            except StopAsyncIteration:
                return None
        stripped = self._buffer.lstrip()
        return stripped[:1]

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._buffer:
            head, self._buffer = self._buffer, b""
            yield head
        async for chunk in self._data:
            yield chunk

    async def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson asks for nothing first, to learn bytes from text
        if self._buffer:
            head, self._buffer = self._buffer, b""
            return head
        try:
            return await anext(self._data)
        except StopAsyncIteration:
            return b""


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _jsonl_items(source: _Peeked) -> AsyncIterator[Any]:
    pending = b""
    line_no = 0
    async for chunk in source.chunks():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line_no += 1
            item = _jsonl_line(raw, line_no)
            if item is not _BLANK:
                yield item
    if pending:
        item = _jsonl_line(pending, line_no + 1)
        if item is not _BLANK:
            yield item


_BLANK = object()
# One decoder for every line: json.loads with an option builds a new one per call,
# which was a tenth of a 100,000-line dataset's job creation.
_DECODE = json.JSONDecoder(parse_constant=_no_constants).decode


def _jsonl_line(raw: bytes, line_no: int) -> Any:
    field = f"dataset.line {line_no}"
    if not raw.strip():
        return _BLANK
    try:
        item = _DECODE(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _bad(field, "not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise _bad(field, str(exc)[:200]) from exc
    return check_item(item, field)


async def _array_items(source: _Peeked) -> AsyncIterator[Any]:
    index = 0
    try:
        async for item in ijson.items_async(source, "item", use_float=True):
            yield check_item(item, f"dataset[{index}]")
            index += 1
    except ijson.JSONError as exc:
        raise _bad(f"dataset[{index}]", str(exc)[:200]) from exc
    except UnicodeDecodeError as exc:
        raise _bad(f"dataset[{index}]", "not UTF-8") from exc
