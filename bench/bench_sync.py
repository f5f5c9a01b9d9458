"""The sync benchmark: a two-year backfill against a sandbox with 200 ms latency per request.

    .venv/bin/python bench/bench_sync.py [--records 40000] [--concurrency 8] [--skip-rest-api]

Reports records/s, pages, wall time and peak memory of our sync beside the network floor
(pages x latency / concurrency) and beside a plain sequential dlt `rest_api` configuration of the
same endpoints; memory at a quarter of the size (flat as the workspace grows); the nightly case
(one day of new data with the 14-day lookback); and a full refresh after it. Each run's result is
checked against the sandbox's own counts (`check_exactly_once`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from common import sandbox_process

HERE = Path(__file__).parent
LATENCY_S = 0.2
START, END = "2024-12-01", "2026-12-01T00:00:00Z"


def child(*args: str, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(HERE / "sync_child.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def sandbox_args(records: int) -> list[str]:
    half = str(records // 2)
    # Longer or shorter conversations than the sandbox's 4,000 words a half hour.
    words = os.environ.get("BENCH_TRANSCRIPT_WORDS")
    return [
        *(["--transcript-words", words] if words else []),
        "--meetings",
        half,
        "--calls",
        half,
        "--start",
        START,
        "--end",
        END,
        "--latency-ms",
        str(LATENCY_S * 1000),
    ]


def sandbox_counts(url: str) -> dict[str, dict[str, int]]:
    """Per endpoint, the conversations the sandbox serves ("visible") and has deleted so far."""
    return httpx.get(f"{url}/_sandbox/state").json()["counts"]


def check_exactly_once(run: dict, url: str, deleted_before: dict[str, int]) -> str:
    """That the destination holds every conversation the sandbox serves, each once, with at most
    one transcript: figures of a run that lost or doubled rows would mean nothing.

    Conversations deleted upstream since `deleted_before` stay loaded (the sandbox deletes a
    conversation a day or more after it was analysed, so the earlier run has loaded it): an
    incremental sync does not see deletions; a full refresh marks them deleted.
    """
    counts, loaded = sandbox_counts(url), run["loaded"]
    problems = []
    for table in ("meetings", "calls"):
        rows, keys, marked = loaded[table]
        gone = counts[table]["deleted"] - deleted_before.get(table, 0)
        expected = counts[table]["visible"] + gone
        expected_marked = gone if run["full_refresh"] else 0
        if not (rows == keys == expected and marked == expected_marked):
            problems.append(
                f"{table}: {rows} rows, {keys} distinct ids, {marked} marked deleted; expected "
                f"{expected} and {expected_marked} (the sandbox serves {counts[table]['visible']}, "
                f"deleted {gone} since the backfill)"
            )
    transcripts, conversations = loaded["transcripts"], loaded["meetings"][0] + loaded["calls"][0]
    if not transcripts[0] == transcripts[1] <= conversations:
        problems.append(
            f"transcripts: {transcripts[0]} rows, {transcripts[1]} distinct conversations "
            f"of {conversations}"
        )
    if problems:
        raise SystemExit(
            f"the sync did not load exactly once ({run['range']}): " + "; ".join(problems)
        )
    marked = loaded["meetings"][2] + loaded["calls"][2]
    return (
        f"{loaded['meetings'][0]} meetings, {loaded['calls'][0]} calls, {transcripts[0]} "
        f"transcripts: one row per id, as many as the sandbox has served; {marked} marked deleted"
    )


def backfill(records: int, concurrency: int, window_days: float, workdir: str) -> tuple[dict, str]:
    with sandbox_process(*sandbox_args(records)) as (url, _):
        deleted = {kind: counts["deleted"] for kind, counts in sandbox_counts(url).items()}
        ours = child("ours", url, workdir, str(concurrency), str(window_days), END, START)
        ours["verified"] = check_exactly_once(ours, url, deleted)
        # The nightly case: one day later, incremental with the 14-day lookback. The first one
        # after a backfill also vacuums what the backfill appended; the second is the usual night.
        nights = []
        for end in ("2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"):
            httpx.post(f"{url}/_sandbox/advance", json={"days": 1}).raise_for_status()
            night = child("ours", url, workdir, str(concurrency), str(window_days), end, START)
            night["verified"] = check_exactly_once(night, url, deleted)
            nights.append(night)
        # A full re-scan: every conversation deleted upstream since the backfill is marked so.
        rescan = child(
            "ours",
            url,
            workdir,
            str(concurrency),
            str(window_days),
            end,
            START,
            BENCH_FULL_REFRESH="1",
        )
        rescan["verified"] = check_exactly_once(rescan, url, deleted)
    return {"backfill": ours, "nightly": nights, "full_refresh": rescan}, url


def describe_options() -> str:
    """The BENCH_* settings this run was given (read by sync_child.py), for the report's title."""
    knobs = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}
    return ", ".join(f"{k}={v}" for k, v in sorted(knobs.items())) or "default settings"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--window-days", type=float, default=7)
    parser.add_argument("--skip-rest-api", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as big,
        tempfile.TemporaryDirectory() as small,
        tempfile.TemporaryDirectory() as rest,
    ):
        results, _ = backfill(args.records, args.concurrency, args.window_days, big)
        quarter, _ = backfill(args.records // 4, args.concurrency, args.window_days, small)
        baseline = None
        if not args.skip_rest_api:
            with sandbox_process(*sandbox_args(args.records)) as (url, _):
                baseline = child("rest_api", url, rest)
    ours, nightly = results["backfill"], results["nightly"]
    floor = ours["pages"] * LATENCY_S / args.concurrency
    print(
        f"backfill of {ours['records']} records (two years, {describe_options()}, {LATENCY_S * 1000:.0f} ms latency)"
    )
    print(
        f"  ours:      {ours['seconds']:.1f}s wall, {ours['records'] / ours['seconds']:,.0f} records/s, {ours['pages']} pages, "
        f"{ours['requests']} requests, {ours['windows']} windows, concurrency {args.concurrency}, peak {ours['peak_rss_mb']:.0f} MiB (sync process {ours['peak_rss_sync_mb']:.0f})"
    )
    print(
        f"  floor:     {floor:.1f}s (pages x latency / concurrency): ours is {ours['seconds'] / floor:.2f}x the floor"
    )
    if baseline:
        print(
            f"  rest_api:  {baseline['seconds']:.1f}s wall, {baseline['records'] / baseline['seconds']:,.0f} records/s, sequential, "
            f"peak {baseline['peak_rss_mb']:.0f} MiB: ours is {baseline['seconds'] / ours['seconds']:.1f}x faster"
        )
    print(f"  verified:  {ours['verified']}")
    small_run = quarter["backfill"]
    print(
        f"  memory:    {small_run['records']} records peak {small_run['peak_rss_mb']:.0f} MiB; {ours['records']} records peak {ours['peak_rss_mb']:.0f} MiB"
    )
    for label, night in zip(("first after the backfill", "the next"), nightly, strict=True):
        print(
            f"nightly ({label}: one new day, 14-day lookback): {night['requests']} requests, "
            f"{night['pages']} pages, {night['windows']} windows, {night['seconds']:.1f}s, "
            f"{night['records']} new or changed records; verified: {night['verified']}"
        )
    rescan = results["full_refresh"]
    print(
        f"full refresh (a re-scan of the two years): {rescan['requests']} requests, "
        f"{rescan['seconds']:.1f}s, {rescan['records']} new or changed records, "
        f"{rescan['deleted']} marked deleted; verified: {rescan['verified']}"
    )


if __name__ == "__main__":
    main()
