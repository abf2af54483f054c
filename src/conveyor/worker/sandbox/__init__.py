"""Running customer code: bundles, the sandbox around each chunk, the task handler.

See docs/sandbox.md for the threat model, the limits and the progress protocol.
"""

from conveyor.worker.sandbox.config import SandboxConfig
from conveyor.worker.sandbox.errors import SandboxError
from conveyor.worker.sandbox.sandbox import Chunk, Sandbox, SandboxUnavailable

__all__ = ["Chunk", "Sandbox", "SandboxConfig", "SandboxError", "SandboxUnavailable"]
