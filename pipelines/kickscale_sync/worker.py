"""The shaping worker: a process beside the sync that parses and shapes pages (`records`).

Spawned, not forked: the sync process has threads (HTTP, DuckDB) that a fork would copy
mid-flight. It imports only what shaping needs, not dlt or DuckDB.
"""

from __future__ import annotations

import importlib.abc
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.process import BaseProcess

from kickscale_sync import memory


@contextmanager
def shaping_pool(processes: int) -> Iterator[ProcessPoolExecutor | None]:
    """Processes that parse and shape pages (none for 0): parsing holds the GIL, dlt needs it."""
    if processes <= 0:
        yield None
        return
    pool = ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context("spawn"), initializer=start_worker
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def start_worker() -> None:
    """Runs in each worker as it starts: the sync's memory settings, no pandas (`_WithoutPandas`),
    and an end with the sync.

    A worker waits on a queue whose write end it holds itself, so it never sees the sync go:
    a sync killed with SIGKILL (or by the OOM killer) left its worker behind, ~130 MiB, for good.
    """
    memory.configure()
    sys.meta_path.insert(0, _WithoutPandas())
    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = threading.Thread(target=_exit_with, args=(parent,), name="exit-with-the-sync")
        watch.daemon = True
        watch.start()


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Shaping never uses pandas, but `pyarrow.array` imports it on its first call, only to ask
    whether the values are a pandas Series: ~37 MiB of the worker's memory for nothing. Refused,
    pyarrow takes pandas for absent."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("the shaping worker does without pandas", name=name)
        return None


def _exit_with(parent: BaseProcess) -> None:
    parent.join()  # returns once the sync process has ended, however it ended
    os._exit(1)
