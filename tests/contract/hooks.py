"""Loaded into schemathesis through ``SCHEMATHESIS_HOOKS``: works around a CPython
3.11 parser bug, nothing of ours.

Hypothesis names a filter's lambda by parsing the lambda's source module, and it
raises the recursion limit while it generates data. CPython before 3.11.8 then
fails that parse of schemathesis' large coverage module with ``SystemError: AST
constructor recursion depth mismatch`` (CPython gh-106905), which schemathesis
reports as an error of whichever operation got there first. Parsing its modules
once here, before any limit changes, into a cache that every worker thread shares
(hypothesis keeps one per thread), means the failing parse never runs.
"""

from __future__ import annotations

import ast
import linecache
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import schemathesis

if sys.version_info < (3, 11, 8):
    from hypothesis.internal import lambda_sources
    from hypothesis.internal.cache import LRUCache

    class _SharedCache(LRUCache[Any, Any]):
        def __init__(self, max_size: int) -> None:
            super().__init__(max_size)
            self._shared: OrderedDict[Any, Any] = OrderedDict()

        @property
        def cache(self) -> OrderedDict[Any, Any]:
            return self._shared

    # Every schemathesis module with a lambda in it: any of them may be the one.
    sources = [
        path
        for path in Path(schemathesis.__file__).parent.rglob("*.py")
        if "lambda" in path.read_text(encoding="utf-8")
    ]
    shared = _SharedCache(max(len(sources) * 2, lambda_sources.AST_LAMBDAS_CACHE.max_size))
    for path in sources:
        lines = tuple(linecache.getlines(str(path)))
        shared[lines] = lambda_sources.extract_all_lambdas(ast.parse("".join(lines)))
    lambda_sources.AST_LAMBDAS_CACHE = shared
