"""The backfill flow: a date range in chunks, each a committed sync of its own."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from kickscale_flows.common import (
    TRANSIENT_RETRIES,
    artifact_key,
    database_guard,
    publish_summary,
)
from kickscale_sync.config import load_profile
from kickscale_sync.sync import SyncRequest, SyncSummary, run_sync
from kickscale_sync.windows import utc
from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, RUN_ID


# Within one flow run (and its retries) a finished chunk is not fetched again.
@task(**TRANSIENT_RETRIES, cache_policy=INPUTS + RUN_ID, persist_result=True)
def sync_chunk(profile_name: str, start: datetime, end: datetime) -> dict:
    summary = run_sync(
        SyncRequest(profile=load_profile(profile_name), start=start, end=end, now=end)
    )
    return summary.as_dict()


def chunks(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    step, cursor, out = timedelta(days=days), utc(start), []
    while cursor < utc(end):
        out.append((cursor, min(cursor + step, utc(end))))
        cursor += step
    return out


@flow(name="backfill")
def backfill(profile: str, start: datetime, end: datetime, chunk_days: int = 30) -> list[dict]:
    """Re-sync [start, end) chunk by chunk; a rerun of the flow run skips finished chunks."""
    started = time.monotonic()
    logger = get_run_logger()
    results = []
    settings = load_profile(profile)
    with database_guard(settings):
        for chunk_start, chunk_end in chunks(start, end, chunk_days):
            result = sync_chunk(profile, chunk_start, chunk_end)
            logger.info("chunk %s .. %s: %s", chunk_start.date(), chunk_end.date(), result["rows"])
            results.append(result)
    total = SyncSummary()
    for result in results:
        for table, rows in result["rows"].items():
            total.rows[table] += rows
        total.windows += result["windows"]
        total.requests += result["requests"]
    total.range_start, total.range_end = utc(start), utc(end)
    publish_summary(
        key=artifact_key("backfill", settings),
        title=f"kickscale backfill ({settings.name}) {utc(start):%Y-%m-%d} .. {utc(end):%Y-%m-%d}",
        summary=total,
        models=None,
        seconds=time.monotonic() - started,
    )
    return results
