"""How many tasks a worker holds ahead of its free slots: bounded by time, not count.

A fixed prefetch is wrong both ways: 4 noop tasks are a few hundred microseconds of
work, so a worker of fast tasks spends its time on round trips, while 4 one-minute
tasks held by one worker are minutes another idle worker could have used them
(Celery's known unfairness). So the buffer is sized to hold about ``seconds`` of
expected work per slot, from a moving average of how long this worker's tasks have
run, between one task (the next starts without a round trip) and ``most``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Until a task has run there is no estimate: the old fixed default.
FIRST_GUESS = 4
# Weight of the newest run time in the moving average: a change of workload is
# followed within a dozen tasks, one odd task barely moves it.
WEIGHT = 0.2
# Below this a run time is measurement noise; it also keeps the division finite.
SHORTEST = 1e-5


@dataclass(slots=True)
class PrefetchWindow:
    most: int
    seconds: float
    concurrency: int
    mean_run: float | None = None

    def observe(self, run_seconds: float) -> None:
        run = max(run_seconds, SHORTEST)
        self.mean_run = (
            run if self.mean_run is None else self.mean_run + WEIGHT * (run - self.mean_run)
        )

    def size(self) -> int:
        """Tasks to hold beyond the running ones right now (0 when prefetch is off)."""
        if self.most <= 0:
            return 0
        if self.mean_run is None:
            return min(self.most, FIRST_GUESS)
        wanted = int(self.seconds * self.concurrency / self.mean_run)
        return max(1, min(self.most, wanted))
