"""Reading windows ahead of the loads: every window once, and never more than the pool runs."""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pyarrow as pa
from kickscale_sync import settings as api
from kickscale_sync.client import ClientConfig, Credentials, KickscaleClient
from kickscale_sync.records import WindowRows
from kickscale_sync.sandbox import Sandbox
from kickscale_sync.source import Prefetcher, SourceContext
from kickscale_sync.windows import plan_windows

from .conftest import HISTORY_END, HISTORY_START


class CountingPool(ThreadPoolExecutor):
    """A real thread pool that remembers the most windows it held at once."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.workers = workers
        self.outstanding = self.most = 0
        self._lock = threading.Lock()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            self.outstanding += 1
            self.most = max(self.most, self.outstanding)
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future) -> None:
        with self._lock:
            self.outstanding -= 1


def test_windows_handed_to_the_pool_never_queue_beyond_its_threads(sandbox: Sandbox) -> None:
    # Windows queued inside the pool would be read whatever the budget says: an 80k backfill held
    # 180 MiB of them. A budget of one byte forces every window through the "load is waiting" path.
    client = KickscaleClient(
        Credentials(sandbox.api_key, sandbox.client_id), ClientConfig(base_url=sandbox.url)
    )
    plan = [
        (endpoint, window)
        for window in plan_windows(HISTORY_START, HISTORY_END, timedelta(days=7))
        for endpoint in api.ENDPOINTS
    ]
    with client, CountingPool(2) as pool:
        context = SourceContext(client=client, executor=pool, concurrency=2)
        prefetcher = Prefetcher(context, plan, budget_bytes=1)
        seen = [prefetcher.result(endpoint, window).seen_ids for endpoint, window in plan]
    assert pool.most <= pool.workers + 1  # at most the window the load waits for, beyond them
    ids = [record_id for window_ids in seen for record_id in window_ids]
    scopes = frozenset(api.SCOPES)
    live = sum(
        len(
            sandbox.workspace.list_indices(
                e, start=None, end=None, scopes=scopes, domain=None, descending=False
            )
        )
        for e in api.ENDPOINTS
    )
    assert len(ids) == len(set(ids)) == live


class ManualPool(Executor):
    """Windows that are read when the test says so, at the size it says: the budget, exactly."""

    def __init__(self) -> None:
        self.started: list[Future] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        self.started.append(future)
        return future

    def finish(self, index: int, nbytes: int) -> None:
        rows = WindowRows(tables={"meetings": pa.table({"x": pa.array([b"x" * nbytes])})})
        self.started[index].set_result(rows)


def test_windows_being_read_count_against_the_budget_at_the_size_read_so_far() -> None:
    # Counting only the rows waiting, the windows still being read finished past the budget: an
    # 80k backfill held 360 MB of them against 128. The 8 first windows start blind.
    pool = ManualPool()
    context = SourceContext(client=None, executor=pool, concurrency=8)  # type: ignore[arg-type]
    windows = plan_windows(HISTORY_START, HISTORY_END, timedelta(days=7))
    prefetcher = Prefetcher(context, [("meetings", w) for w in windows], budget_bytes=10_000)
    assert len(pool.started) == 8
    window_bytes = 4_000
    pool.finish(0, window_bytes)  # now a window is expected to hold ~4 kB: 8 of them, 32 kB
    for index in range(1, 8):
        pool.finish(index, window_bytes)
    assert len(pool.started) == 8  # nothing more while 32 kB wait (before: up to 10 windows)
    for window in windows[:6]:
        prefetcher.result("meetings", window)
    assert len(pool.started) == 8  # 2 windows (8 kB) wait, a third would pass 10 kB
    prefetcher.result("meetings", windows[6])
    assert len(pool.started) == 9  # 4 kB waiting, 4 kB expected of the new one
    pool.finish(8, window_bytes)
    prefetcher.result("meetings", windows[7])  # taken: room for one more
    assert len(pool.started) == 10
