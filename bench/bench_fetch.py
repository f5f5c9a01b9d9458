"""Fetching and shaping alone, no loads: how fast the read side can go against the sandbox.

.venv/bin/python bench/bench_fetch.py [--records 40000] [--concurrency 8] [--latency-ms 200]
                                      [--shaping-processes 1]

Reads every window of a two-year workspace the way a backfill does (the sync's read-ahead,
unbounded here, and its shaping worker), keeps nothing, and reports the seconds beside the
network floor, with the CPU seconds of this process and of the sandbox.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from common import sandbox_process
from kickscale_sync import memory
from kickscale_sync.client import ClientConfig, Credentials, KickscaleClient
from kickscale_sync.source import Prefetcher, SourceContext, reader_threads
from kickscale_sync.windows import plan_windows
from kickscale_sync.worker import shaping_pool

ENDPOINTS = ("meetings", "calls")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_everything(url: str, concurrency: int, shaping_processes: int) -> tuple[int, int]:
    client = KickscaleClient(
        Credentials("sandbox-api-key", "sandbox-client"),
        ClientConfig(base_url=url, max_connections=concurrency, requests_per_second=0),
    )
    windows = plan_windows(
        datetime(2024, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), timedelta(days=7)
    )
    records = 0
    readers = reader_threads(concurrency)  # as a sync reads: the client caps the requests
    with client, shaping_pool(shaping_processes) as shaper, ThreadPoolExecutor(readers) as pool:
        if shaper:
            shaper.submit(int).result()  # the worker is up before the first page comes
        context = SourceContext(client=client, executor=pool, concurrency=readers, shaper=shaper)
        plan = [(endpoint, window) for window in windows for endpoint in ENDPOINTS]
        prefetcher = Prefetcher(context, plan, ahead=len(plan))
        for endpoint, window in plan:
            records += prefetcher.result(endpoint, window).counts.get(endpoint, 0)
    return records, client.stats.pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--shaping-processes", type=int, default=1)
    args = parser.parse_args()
    memory.configure()
    half = args.records // 2
    spec = ["--meetings", str(half), "--calls", str(half), "--start", "2024-12-01"]
    spec += ["--end", "2026-12-01", "--latency-ms", str(args.latency_ms)]
    with sandbox_process(*spec) as (url, sandbox):
        sandbox_before, own_before = cpu_seconds(sandbox.pid), time.process_time()
        started = time.perf_counter()
        records, pages = read_everything(url, args.concurrency, args.shaping_processes)
        seconds = time.perf_counter() - started
        sandbox_cpu = cpu_seconds(sandbox.pid) - sandbox_before
        # The shaping worker has exited by now; the sandbox, still running, is not counted here.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu = children.ru_utime + children.ru_stime
    floor = pages * args.latency_ms / 1000 / args.concurrency
    print(
        f"read {records:,} records in {pages} pages: {seconds:.1f} s at concurrency "
        f"{args.concurrency}, {args.latency_ms:g} ms latency (floor {floor:.1f} s), "
        f"{args.shaping_processes} shaping process(es); CPU: this process "
        f"{time.process_time() - own_before:.1f} s, shaping {worker_cpu:.1f} s, "
        f"sandbox {sandbox_cpu:.1f} s"
    )


if __name__ == "__main__":
    main()
