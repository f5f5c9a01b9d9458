"""Sandbox throughput and memory: fully expanded records per second from one core, and RSS.

.venv/bin/python bench/bench_sandbox.py [--records 200000] [--pages 60]
"""

from __future__ import annotations

import argparse

import httpx
import orjson
from common import Stopwatch, peak_rss_mb, sandbox_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--records", type=int, default=200_000, help="meetings + calls in the workspace"
    )
    parser.add_argument("--pages", type=int, default=60, help="pages of 100 to fetch per endpoint")
    args = parser.parse_args()
    half = args.records // 2
    spec = [
        "--meetings",
        str(half),
        "--calls",
        str(half),
        "--start",
        "2024-12-01",
        "--end",
        "2026-12-01",
    ]
    startup = Stopwatch().__enter__()
    with sandbox_process(*spec) as (url, process):
        startup.__exit__()
        headers = {"api-key": "sandbox-api-key", "client-id": "sandbox-client"}
        params = {
            "pageSize": 100,
            "sortingOrder": "ascending",
            "scopes": "internal,external",
            "expand": "user_client_augmentation,meeting_transcript",
        }
        records = 0
        payload = 0
        with (
            httpx.Client(base_url=url, headers=headers, timeout=60) as client,
            Stopwatch() as serve,
        ):
            for endpoint in ("meetings", "calls"):
                for page in range(args.pages):
                    response = client.get(f"/{endpoint}", params={**params, "page": page})
                    response.raise_for_status()
                    records += orjson.loads(response.content)["meta"]["returned"]
                    payload += len(response.content)
        rss = peak_rss_mb(process.pid)
    print(f"workspace: {args.records} records; sandbox ready in {startup.seconds:.1f}s")
    print(
        f"served {records} fully expanded records ({payload / 2**20:.0f} MiB) in {serve.seconds:.2f}s: "
        f"{records / serve.seconds:,.0f} records/s, one connection, cold cache"
    )
    print(f"sandbox peak memory: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
