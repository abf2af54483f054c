"""OpenTelemetry tracing, optional and off unless asked for (docs/observability.md).

This module imports nothing of OpenTelemetry: when tracing is off, every hook is a
method of the no-op ``Tracing`` below and costs a call. ``setup`` turns it on when
``CONVEYOR_OTEL_ENABLED`` is true (and ``OTEL_SDK_DISABLED`` is not): only then is
``observability/otel.py`` imported, which needs ``pip install conveyor[otel]``.
The exporter, endpoint, sampler and resource come from the standard ``OTEL_*``
variables.

A task's trace: ``conveyor.task.submit`` (its context is kept in the task's
``traceparent``), ``conveyor.task.claim`` and ``conveyor.task.finish`` on the
server, ``conveyor.task.run`` on the worker around the handler, its progress
calls and the handler's own outbound HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from conveyor.domain.tasks import NewTask, Task

ENABLED_ENV = "CONVEYOR_OTEL_ENABLED"
TRUE = frozenset({"1", "true", "yes", "on"})


def wanted(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return env.get(ENABLED_ENV, "").strip().lower() in TRUE


class TaskRun:
    """The worker's span around one handler run; this base is the no-op one."""

    def start(self) -> None:
        return None

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the run's span current (progress calls, the handler's own HTTP)."""
        yield

    def end(self, outcome: str, error: BaseException | None = None) -> None:
        return None


NO_RUN = TaskRun()


class Tracing:
    """Tracing switched off: every hook does nothing."""

    enabled = False

    def instrument_app(self, app: Any, sync_engine: Any) -> None:
        """Spans for an app's requests and its database statements."""

    def instrument_http(self) -> None:
        """Spans (and traceparent headers) for outbound HTTP made with httpx."""

    def stamp(self, new: list[NewTask]) -> list[NewTask]:
        """Open each new task's trace; returns the tasks carrying its traceparent."""
        return new

    def claimed(self, tasks: Sequence[Task], node_id: str) -> None:
        return None

    def finished(self, task: Task) -> None:
        return None

    def run(self, traceparent: str | None, task_id: str, task_type: str) -> TaskRun:
        return NO_RUN

    def shutdown(self) -> None:
        return None


_current: Tracing = Tracing()


def current() -> Tracing:
    return _current


def setup(
    service_name: str, env: Mapping[str, str] | None = None, *, set_global: bool = False
) -> Tracing:
    """Turn tracing on from the environment, once per process; else leave it off."""
    if _current.enabled or not wanted(env):
        return _current
    from conveyor.observability.otel import from_environment

    return install(from_environment(service_name, set_global=set_global))


def install(tracing: Tracing) -> Tracing:
    """Use ``tracing`` from now on (tests install one exporting to memory)."""
    global _current
    _current = tracing
    return tracing


def reset() -> None:
    """Back to no tracing, the previous one flushed and shut down."""
    global _current
    _current.shutdown()
    _current = Tracing()
