"""The C allocator tuned for a long-running server: large buffers go back to the OS.

glibc serves blocks of 128 KiB and over with mmap, but raises that threshold each
time such a block is freed, up to 32 MiB; a server that decodes 100 KB request
bodies and chunk results then takes them from its heap, which fragments and never
shrinks. ``bench/jobs.py``'s 100 MB job left the server at 220 MB of RSS, 182 MB
with the threshold fixed (docs/benchmarks.md). Setting it explicitly turns that
adjustment off (mallopt(3)); an operator's own ``MALLOC_MMAP_THRESHOLD_`` wins.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> bool:
    """True if the C library took the setting (glibc); False elsewhere or when the
    environment already sets it."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS): nothing to tune this way
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
