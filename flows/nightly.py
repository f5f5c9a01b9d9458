"""The nightly flow: sync, then models and their data tests, then exports."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from kickscale_flows.common import (
    TRANSIENT_RETRIES,
    artifact_key,
    database_guard,
    publish_summary,
)
from kickscale_sync.config import load_profile
from kickscale_sync.export import ExportRun, run_export
from kickscale_sync.models import ModelRun, run_models
from kickscale_sync.sync import SyncRequest, SyncSummary, run_sync
from kickscale_sync.windows import utc
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run


@task(**TRANSIENT_RETRIES, cache_policy=NO_CACHE)
def sync_task(profile_name: str, end: datetime) -> SyncSummary:
    return run_sync(SyncRequest(profile=load_profile(profile_name), end=end, now=end))


@task(cache_policy=NO_CACHE)
def models_task(profile_name: str, as_of: datetime) -> ModelRun:
    return run_models(load_profile(profile_name), as_of.date())


@task(cache_policy=NO_CACHE)
def export_task(profile_name: str) -> ExportRun:
    return run_export(load_profile(profile_name))


def scheduled_end() -> datetime:
    """The instant the run was scheduled for: a late or retried run covers the same window."""
    scheduled = flow_run.scheduled_start_time
    return utc(datetime.fromtimestamp(scheduled.timestamp(), UTC))


@flow(name="nightly-sync", log_prints=False)
def nightly_sync(profile: str = "prod", end: datetime | None = None) -> dict:
    """Sync up to the scheduled start time (or `end`), build the models, export the marts."""
    started = time.monotonic()
    logger = get_run_logger()
    window_end = utc(end) if end else scheduled_end()
    settings = load_profile(profile)
    with database_guard(settings):
        summary = sync_task(profile, window_end)
        logger.info(summary.render())
        models = models_task(profile, window_end)
        logger.info(models.render())
        exported = export_task(profile)
        logger.info(exported.render())
    publish_summary(
        key=artifact_key("nightly", settings),
        title=f"kickscale nightly sync ({settings.name}) up to {window_end:%Y-%m-%d %H:%M} UTC",
        summary=summary,
        models=models,
        seconds=time.monotonic() - started,
    )
    return {"sync": summary.as_dict(), "models": models.tables, "tests": models.tests}
