"""``conveyor demo``: a server, two workers and a mixed batch of tasks, watched live."""
