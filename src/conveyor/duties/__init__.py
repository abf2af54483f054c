"""Leader-only periodic work, each duty a ``run_once(now)`` so tests drive time."""
