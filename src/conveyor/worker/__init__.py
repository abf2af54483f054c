"""The worker runtime: register handlers by task type, run them on any machine."""

from conveyor.worker.app import Worker
from conveyor.worker.config import WorkerConfig
from conveyor.worker.context import HandlerError, TaskContext
from conveyor.worker.runner import WorkerRunner, run_worker

__all__ = ["HandlerError", "TaskContext", "Worker", "WorkerConfig", "WorkerRunner", "run_worker"]
