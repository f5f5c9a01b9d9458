"""Deployments: the nightly sync on the profile's cron and time zone, and an on-demand backfill.

`kickscale-sync serve --profile prod` serves both from this process; `prefect.yaml` describes the
same deployments for work pools and workers.
"""

from __future__ import annotations

from typing import Any

from kickscale_flows.backfill import backfill
from kickscale_flows.common import database_lock_name, ensure_database_lock
from kickscale_flows.nightly import nightly_sync
from kickscale_flows.upload import upload_calls
from kickscale_sync.config import load_profile
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

# One run per deployment: a second one is cancelled at once rather than queued behind the first.
ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


def build_deployments(profile_name: str) -> list[Any]:
    profile = load_profile(profile_name)
    timeout = profile.schedule.flow_timeout_seconds
    nightly = nightly_sync.with_options(timeout_seconds=timeout).to_deployment(
        name=f"nightly-{profile.name}",
        schedules=[Cron(profile.schedule.cron, timezone=profile.schedule.timezone)],
        parameters={"profile": profile_name},
        concurrency_limit=ONE_AT_A_TIME,
        tags=["kickscale", profile.name],
        description=f"Nightly sync, models and exports for profile {profile.name}",
    )
    on_demand = backfill.with_options(timeout_seconds=timeout).to_deployment(
        name=f"backfill-{profile.name}",
        parameters={"profile": profile_name},
        concurrency_limit=ONE_AT_A_TIME,
        tags=["kickscale", profile.name],
        description=f"Backfill a date range in chunks for profile {profile.name}",
    )
    uploads = upload_calls.to_deployment(
        name=f"upload-{profile.name}",
        parameters={"profile": profile_name},
        concurrency_limit=ONE_AT_A_TIME,
        tags=["kickscale", profile.name],
        description=f"Upload the calls of a manifest for profile {profile.name}",
    )
    return [nightly, on_demand, uploads]


def serve_profile(profile_name: str) -> None:
    """Serve the profile's deployments until interrupted; a restart does not pause the schedule."""
    ensure_database_lock(database_lock_name(load_profile(profile_name)))
    serve(*build_deployments(profile_name), pause_on_shutdown=False)
