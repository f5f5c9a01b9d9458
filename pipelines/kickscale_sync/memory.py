"""How the sync process uses memory: glibc's allocator and Arrow's pool.

Wide transcript rows pass through many threads (readers, dlt, DuckDB); the defaults of both
allocators kept hundreds of MiB of freed memory around. Everything here is a no-op where glibc
is not the C library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

import pyarrow as pa

_M_ARENA_MAX = -8  # from glibc's malloc.h


def configure(arenas: int = 1) -> None:
    """Call before the reader threads start: threads created earlier keep their own arenas.

    With an arena per thread, the memory of parsed JSON pages stayed scattered across eight of
    them (the readers alone held 650 MiB where one arena needs 400 MiB). Arrow's default pool
    likewise keeps freed memory for reuse; the system allocator gives it back.
    """
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, arenas)
    pa.set_memory_pool(pa.system_memory_pool())


def release_freed() -> None:
    """Hand memory freed by a load (DuckDB's buffers, dlt's files) back to the OS."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@functools.cache
def _libc() -> Any:
    # Once: `find_library` runs `ldconfig -p` in a child process, a fork of a process that may
    # hold hundreds of MiB by the time a load ends.
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
