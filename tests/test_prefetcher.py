"""Reading windows ahead of the loads: every window once, and never more than the pool runs."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from kickscale_sync import settings as api
from kickscale_sync.client import ClientConfig, Credentials, KickscaleClient
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
