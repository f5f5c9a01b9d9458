"""`kickscale-sync demo`: the whole job on a local sandbox, from nothing to a queryable DuckDB file."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kickscale_sync.config import Profile
from kickscale_sync.destinations import Destination
from kickscale_sync.export import run_export
from kickscale_sync.models import run_models
from kickscale_sync.sandbox import Sandbox, WorkspaceSpec
from kickscale_sync.sync import SyncRequest, run_sync

DEMO_QUERY = (
    "SELECT customer_domain, conversations, last_contact_at::DATE AS last_contact, "
    "days_since_last_contact, round(avg_talk_ratio, 2) AS talk_ratio "
    "FROM analytics.domain_summary ORDER BY conversations DESC LIMIT 10;"
)


def run_demo(
    profile: Profile,
    *,
    meetings: int,
    calls: int,
    days: int,
    echo: Callable[[str], None] = print,
    today: datetime | None = None,
) -> None:
    today = today or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spec = WorkspaceSpec(
        meetings=meetings, calls=calls, start=today - timedelta(days=days), end=today
    )
    with Sandbox(spec) as sandbox:
        echo(
            f"sandbox running on {sandbox.url} with {meetings} meetings and {calls} calls over {days} days"
        )
        os.environ["SOURCES__KICKSCALE__API_KEY"] = sandbox.api_key
        os.environ["SOURCES__KICKSCALE__CLIENT_ID"] = sandbox.client_id
        os.environ["SOURCES__KICKSCALE__BASE_URL"] = sandbox.url
        demo_profile = profile.with_sync(backfill_start=spec.start)
        summary = run_sync(
            SyncRequest(profile=demo_profile, end=today, now=today, show_progress=True)
        )
        echo(summary.render())
    echo(run_models(profile, as_of=today.date()).render())
    echo(run_export(profile).render())
    location = Destination(profile.destination).location
    echo(f"\ndata: {location}")
    echo(
        f"try:  {sys.executable} -c \"import duckdb; print(duckdb.connect('{location}', read_only=True)"
        f".sql('''{DEMO_QUERY}'''))\""
    )
    echo(f"exports (Parquet for BI tools): {Path(profile.export_path).resolve()}")
