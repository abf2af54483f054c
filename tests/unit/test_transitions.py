"""The transition table, alone: every rule and the invariants under random play."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.domain.backoff import backoff_seconds
from conveyor.domain.states import TERMINAL_STATUSES, TaskStatus
from conveyor.domain.tasks import Task
from conveyor.domain.transitions import (
    SOURCES,
    Command,
    Event,
    RetryPolicy,
    claim_changes,
    decide,
)
from conveyor.errors import Conflict

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_task(**overrides: object) -> Task:
    base = Task(
        id="t1",
        task_type="noop",
        status=TaskStatus.PENDING,
        version=1,
        params={},
        metadata={},
        owner_id="u1",
        assigned_node_id=None,
        priority=0,
        attempts=0,
        max_attempts=3,
        lease_owner=None,
        leased_at=None,
        lease_expires_at=None,
        lease_seconds=None,
        run_at=NOW,
        timeout_seconds=None,
        result=None,
        error=None,
        original_task_id=None,
        required_labels={},
        progress_seq=0,
        created_at=NOW,
        updated_at=NOW,
        started_at=None,
        finished_at=None,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def apply(task: Task, cmd: Command, now: datetime = NOW) -> Task:
    """What the store does with a decision: write the values, bump the version."""
    tr = decide(task, cmd, now, RetryPolicy(1.0, 60.0), random.Random(0))
    return replace(task, **tr.values(), version=task.version + 1)


def leased(node: str = "n1", **overrides: object) -> Task:
    values: dict[str, object] = {
        "status": TaskStatus.IN_PROGRESS,
        "version": 2,
        "lease_owner": node,
        "lease_seconds": 30,
        "lease_expires_at": NOW + timedelta(seconds=30),
    }
    return make_task(**{**values, **overrides})


def test_complete_by_holder_with_current_version() -> None:
    done = apply(leased(), Command(Event.COMPLETE, node_id="n1", version=2, result={"ok": 1}))
    assert done.status is TaskStatus.COMPLETED
    assert done.result == {"ok": 1}
    assert done.version == 3


@pytest.mark.parametrize("node,version", [("n2", 2), ("n1", 1), (None, 2)])
def test_complete_refused_for_stranger_or_stale_version(node: str | None, version: int) -> None:
    with pytest.raises(Conflict) as err:
        apply(leased(), Command(Event.COMPLETE, node_id=node, version=version))
    assert err.value.details["status"] == "in_progress"


def test_retryable_fail_goes_back_to_pending_after_backoff() -> None:
    task = apply(leased(), Command(Event.FAIL, node_id="n1", version=2, error="boom"))
    assert task.status is TaskStatus.PENDING
    assert task.attempts == 1
    assert task.lease_owner is None
    assert NOW + timedelta(seconds=0.5) <= task.run_at <= NOW + timedelta(seconds=1)


def test_fail_on_last_attempt_or_not_retryable_is_final() -> None:
    last = apply(leased(attempts=2), Command(Event.FAIL, node_id="n1", version=2))
    assert last.status is TaskStatus.FAILED
    fatal = apply(leased(), Command(Event.FAIL, node_id="n1", version=2, retryable=False))
    assert fatal.status is TaskStatus.FAILED and fatal.attempts == 1


def test_expiry_charges_an_attempt_then_times_out() -> None:
    again = apply(leased(), Command(Event.EXPIRE))
    assert again.status is TaskStatus.PENDING and again.attempts == 1
    final = apply(leased(attempts=2), Command(Event.EXPIRE))
    assert final.status is TaskStatus.TIMEOUT
    assert final.error["code"] == "lease_expired"


def test_release_charges_nothing() -> None:
    back = apply(leased(), Command(Event.RELEASE, node_id="n1", version=2))
    assert back.status is TaskStatus.PENDING and back.attempts == 0 and back.lease_owner is None


def test_start_respects_pin_and_schedule() -> None:
    with pytest.raises(Conflict):
        apply(make_task(assigned_node_id="n2"), Command(Event.START, node_id="n1"))
    with pytest.raises(Conflict):
        apply(make_task(run_at=NOW + timedelta(seconds=5)), Command(Event.START, node_id="n1"))
    started = apply(
        make_task(timeout_seconds=7), Command(Event.START, node_id="n1", lease_seconds=30)
    )
    assert started.lease_owner == "n1" and started.lease_seconds == 7


def test_reassign_pins_and_resets() -> None:
    moved = apply(leased(), Command(Event.REASSIGN, new_node_id="n9"))
    assert moved.status is TaskStatus.PENDING
    assert moved.assigned_node_id == "n9" and moved.lease_owner is None


def test_claim_is_decided_in_batch() -> None:
    with pytest.raises(ValueError):
        decide(make_task(), Command(Event.CLAIM), NOW)
    values = claim_changes("n1", 10, NOW)
    assert values["status"] is TaskStatus.IN_PROGRESS
    assert values["lease_expires_at"] == NOW + timedelta(seconds=10)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
@pytest.mark.parametrize("event", [e for e in Event if e is not Event.CLAIM])
def test_terminal_states_are_final(status: TaskStatus, event: Event) -> None:
    with pytest.raises(Conflict):
        apply(leased(status=status), Command(event, node_id="n1", version=2, new_node_id="n2"))


def test_no_event_leaves_a_terminal_status() -> None:
    for sources in SOURCES.values():
        assert not sources & TERMINAL_STATUSES


# --- random play -------------------------------------------------------------

NODES = ["n1", "n2", "n3"]
commands = st.one_of(
    st.builds(lambda n: ("claim", n), st.sampled_from(NODES)),
    st.builds(
        lambda e, n, stale, retry: (
            "cmd",
            Command(e, node_id=n, retryable=retry, new_node_id=n),
            stale,
        ),
        st.sampled_from([e for e in Event if e is not Event.CLAIM]),
        st.sampled_from(NODES),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(lambda s: ("tick", s), st.integers(min_value=0, max_value=120)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=40), st.integers(min_value=1, max_value=4))
def test_random_play_keeps_invariants(ops: list[tuple], max_attempts: int) -> None:
    task = make_task(max_attempts=max_attempts)
    now = NOW
    for op in ops:
        before = task
        if op[0] == "tick":
            now += timedelta(seconds=op[1])
            continue
        try:
            if op[0] == "claim":
                if task.status is not TaskStatus.PENDING or task.run_at > now:
                    continue
                values = claim_changes(op[1], 30, now)
                task = replace(task, **values, version=task.version + 1)
            else:
                cmd: Command = op[1]
                version = task.version - 1 if op[2] else task.version
                task = apply(task, replace(cmd, version=version), now)
        except Conflict:
            assert task == before  # a refusal changes nothing
            continue
        assert task.version == before.version + 1  # every change bumps the version
        assert not before.status.is_terminal  # nothing leaves a terminal status
        if task.status is TaskStatus.IN_PROGRESS:
            assert task.lease_owner is not None  # exactly one holder while running
        if task.status is TaskStatus.PENDING:
            assert task.lease_owner is None  # no holder while waiting
        assert task.attempts <= task.max_attempts


@given(
    st.integers(min_value=1, max_value=200),
    st.floats(min_value=0.01, max_value=10),
    st.floats(min_value=0, max_value=1000),
    st.integers(),
)
def test_backoff_grows_within_jittered_bounds(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_seconds(attempt, base, cap, random.Random(seed))
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    assert ceiling / 2 <= delay <= ceiling
