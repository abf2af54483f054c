"""Node health policy: pure functions of failure counts and silence.

Pull nodes prove they live by calling us (claims, heartbeats); their health
follows from how long they have been silent. Push nodes are called by us; their
health follows from consecutive failed probes and dispatches. Both end ``dead``,
at which point their leases are released at once (the sweeper does that).
"""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.domain.states import NodeHealth


@dataclass(frozen=True, slots=True)
class PushHealthPolicy:
    unhealthy_after_failures: int = 2
    dead_after_failures: int = 6
    # Probe slowly while all is well, quickly while failing (to notice recovery
    # soon and give traffic back), and between the two once dead.
    healthy_interval: float = 15.0
    failing_interval: float = 2.0
    dead_interval: float = 10.0

    def health(self, failures: int) -> NodeHealth:
        if failures >= self.dead_after_failures:
            return NodeHealth.DEAD
        if failures >= self.unhealthy_after_failures:
            return NodeHealth.UNHEALTHY
        return NodeHealth.HEALTHY

    def next_probe_in(self, failures: int) -> float:
        if failures == 0:
            return self.healthy_interval
        if self.health(failures) is NodeHealth.DEAD:
            return self.dead_interval
        return self.failing_interval
