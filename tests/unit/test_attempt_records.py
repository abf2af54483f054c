"""Every transition out of ``in_progress`` ends a run and says so: the attempt record."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.domain.states import TaskStatus
from conveyor.domain.tasks import Attempt, Task
from conveyor.domain.transitions import (
    RUN_OUTCOMES,
    SOURCES,
    Command,
    Event,
    RetryPolicy,
    claim_changes,
    decide,
)
from conveyor.errors import Conflict
from tests.unit.test_transitions import NOW, leased, make_task

ERROR = {"type": "ValueError", "message": "bad", "traceback": "Traceback…"}


@pytest.mark.parametrize("event", sorted(RUN_OUTCOMES, key=str))
def test_each_way_out_of_in_progress_records_the_run(event: Event) -> None:
    task = leased("n1", leased_at=NOW, runs=2)
    cmd = Command(event, node_id="n1", version=2, error=ERROR, new_node_id="n9")
    tr = decide(task, cmd, NOW + timedelta(seconds=5), RetryPolicy(1, 60), random.Random(0))
    assert tr.attempt is not None
    assert tr.attempt.number == 3 and tr.changes["runs"] == 3
    assert tr.attempt.node_id == "n1"
    assert (tr.attempt.started_at, tr.attempt.finished_at) == (NOW, NOW + timedelta(seconds=5))
    assert tr.attempt.outcome == RUN_OUTCOMES[event]


def test_the_error_recorded_is_the_one_that_ended_the_run() -> None:
    def ended(event: Event) -> Attempt:
        tr = decide(leased(), Command(event, node_id="n1", version=2, error=ERROR), NOW)
        assert tr.attempt is not None
        return tr.attempt

    assert ended(Event.FAIL).error == ERROR
    assert ended(Event.EXPIRE).error["code"] == "lease_expired"
    assert ended(Event.COMPLETE).error is None
    assert ended(Event.RELEASE).error is None


def test_leaving_pending_ends_no_run() -> None:
    for event in (Event.CANCEL, Event.TIMEOUT, Event.REASSIGN):
        tr = decide(make_task(), Command(event, new_node_id="n9"), NOW)
        assert tr.attempt is None and "runs" not in tr.changes
    started = decide(make_task(), Command(Event.START, node_id="n1", lease_seconds=9), NOW)
    assert started.attempt is None


def test_every_event_that_leaves_in_progress_has_an_outcome() -> None:
    leaving = {e for e, sources in SOURCES.items() if TaskStatus.IN_PROGRESS in sources}
    assert leaving == set(RUN_OUTCOMES)


# --- random play: the history is complete and numbered 1, 2, 3, … ------------

NODES = ["n1", "n2"]
ops = st.one_of(
    st.builds(lambda n: ("claim", n), st.sampled_from(NODES)),
    st.builds(
        lambda e, n: ("cmd", Command(e, node_id=n, new_node_id=n, error={"m": 1})),
        st.sampled_from([e for e in Event if e not in (Event.CLAIM, Event.START)]),
        st.sampled_from(NODES),
    ),
    st.builds(lambda s: ("tick", s), st.integers(min_value=0, max_value=120)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=40), st.integers(min_value=1, max_value=4))
def test_random_play_records_every_run_once(script: list[tuple], max_attempts: int) -> None:
    task: Task = make_task(max_attempts=max_attempts)
    now, history, started = NOW, [], 0
    for op in script:
        if op[0] == "tick":
            now += timedelta(seconds=op[1])
            continue
        if op[0] == "claim":
            if task.status is TaskStatus.PENDING and task.run_at <= now:
                values = claim_changes(op[1], 30, now)
                task = replace(task, **values, version=task.version + 1)
                started += 1
            continue
        try:
            tr = decide(task, replace(op[1], version=task.version), now, RetryPolicy(1, 60))
        except Conflict:
            continue
        if tr.attempt is not None:
            assert tr.attempt.node_id == task.lease_owner
            history.append(tr.attempt)
        task = replace(task, **tr.values(), version=task.version + 1)
        assert task.runs_started == started, "runs counts every run, the current one too"
    assert [a.number for a in history] == list(range(1, len(history) + 1))
    assert task.runs == len(history)
    charged = sum(a.outcome in ("failed", "lease_expired") for a in history)
    assert task.attempts == charged, "each charged attempt is a recorded failed or lapsed run"
