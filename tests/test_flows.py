"""The Prefect flows, run for real against the sandbox under Prefect's test harness."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import kickscale_flows.nightly as nightly_module
import pytest
from kickscale_flows.backfill import backfill, chunks
from kickscale_flows.common import DatabaseBusy, database_lock_name, ensure_database_lock
from kickscale_flows.nightly import nightly_sync, sync_task
from kickscale_sync.config import load_profile
from kickscale_sync.sandbox import Faults
from prefect.artifacts import Artifact
from prefect.concurrency.sync import concurrency
from prefect.testing.utilities import prefect_test_harness

from .conftest import HISTORY_END, HISTORY_START
from .test_sync_process import write_profile

pytestmark = pytest.mark.slow  # a Prefect server and real flow runs


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def flow_profile(make_sandbox, tmp_path: Path, credentials_for, monkeypatch):
    def build(faults: Faults | None = None) -> tuple[str, object]:
        sandbox = make_sandbox(faults=faults)
        credentials_for(sandbox)
        monkeypatch.chdir(tmp_path)
        path = write_profile(
            tmp_path / "flows.toml", sandbox.url, tmp_path / "w.duckdb", tmp_path / ".dlt",
            lookback_days=14, max_attempts=2, windows_per_load=8,
        )  # fmt: skip
        with path.open("a") as handle:
            handle.write(
                f'analytics_database = "{tmp_path / "analytics.duckdb"}"\n[export]\npath = "{tmp_path / "exports"}"\n'
            )
        return str(path), sandbox

    return build


def test_nightly_covers_the_window_it_was_scheduled_for(flow_profile, monkeypatch) -> None:
    profile, sandbox = flow_profile()
    sandbox.advance(days=1)
    # The run was scheduled for 2026-01-02 00:00 UTC, whenever it actually starts. (A direct call
    # has no schedule, so the runtime's answer is replaced; a deployment run gets it from Prefect.)
    import prefect.runtime.flow_run as runtime_flow_run

    scheduled = datetime(2026, 1, 2, tzinfo=UTC)
    monkeypatch.setitem(runtime_flow_run.FIELDS, "scheduled_start_time", lambda: scheduled)
    result = nightly_sync(profile=profile)
    assert result["sync"]["range"][1] == "2026-01-02T00:00:00Z"
    assert result["sync"]["rows"]["meetings"] > 0
    assert result["tests"] and all(n == 0 for n in result["tests"].values())
    assert Path(load_profile(profile).export_path, "domain_summary").is_dir()
    artifact = Artifact.get("kickscale-nightly-proc")
    assert (
        artifact is not None
        and "| meetings |" in artifact.data
        and "data tests 7/7 passed" in artifact.data
    )


def test_a_transient_failure_is_retried(flow_profile, monkeypatch) -> None:
    profile, sandbox = flow_profile(Faults(fail_first_requests=2))  # two 503s outlast 2 attempts
    monkeypatch.setattr(nightly_module, "sync_task", sync_task.with_options(retry_delay_seconds=0))
    result = nightly_sync(profile=profile, end=HISTORY_END)
    assert result["sync"]["rows"]["calls"] > 0
    assert sandbox.stats["fault 503"] == 2


def test_forbidden_is_not_retried(flow_profile, monkeypatch) -> None:
    profile, sandbox = flow_profile()
    monkeypatch.setattr(nightly_module, "sync_task", sync_task.with_options(retry_delay_seconds=0))
    monkeypatch.setenv("SOURCES__KICKSCALE__API_KEY", "revoked")
    state = nightly_sync(profile=profile, end=HISTORY_END, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="403"):
        state.result()
    assert sandbox.stats["status 403"] == 1


def test_a_second_writer_waits_and_then_gives_up(flow_profile, monkeypatch) -> None:
    profile, _ = flow_profile()
    monkeypatch.setattr("kickscale_flows.common.DATABASE_WAIT_SECONDS", 1)
    name = database_lock_name(load_profile(profile))
    ensure_database_lock(name)
    with concurrency(name, occupy=1, strict=True):  # a backfill holds the database
        state = nightly_sync(profile=profile, end=HISTORY_END, return_state=True)
    assert state.is_failed()
    with pytest.raises(DatabaseBusy, match="another run"):
        state.result()


def test_backfill_in_chunks(flow_profile) -> None:
    profile, _ = flow_profile()
    results = backfill(profile=profile, start=HISTORY_START, end=HISTORY_END, chunk_days=31)
    assert len(results) == len(chunks(HISTORY_START, HISTORY_END, 31)) == 3
    assert sum(r["rows"]["meetings"] for r in results) > 250
    artifact = Artifact.get("kickscale-backfill-proc")
    assert artifact is not None and "2025-10-01 .. 2026-01-01" in artifact.data


def test_chunks_cover_the_range() -> None:
    parts = chunks(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC), 30)
    assert parts[0][0] == datetime(2025, 1, 1, tzinfo=UTC) and parts[-1][1] == datetime(
        2025, 3, 15, tzinfo=UTC
    )
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))


def test_deployments_carry_the_profile_schedule_and_the_overlap_rule() -> None:
    from kickscale_flows.deployments import build_deployments

    nightly, on_demand, uploads = build_deployments("prod")
    assert nightly.name == "nightly-prod" and on_demand.name == "backfill-prod"
    schedule = nightly.schedules[0].schedule
    assert schedule.cron == "0 2 * * *" and schedule.timezone == "Europe/Vienna"
    assert nightly.parameters == {"profile": "prod"}
    assert uploads.name == "upload-prod"
    for deployment in (nightly, on_demand, uploads):
        assert deployment.concurrency_limit == 1
        assert deployment.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert not on_demand.schedules


def test_upload_flow_uploads_once(flow_profile, tmp_path: Path) -> None:
    from kickscale_flows.upload import upload_calls

    from .test_upload import write_manifest

    profile, sandbox = flow_profile()
    manifest = write_manifest(tmp_path / "calls", sandbox, 3)
    first = upload_calls(profile=profile, manifest=str(manifest))
    second = upload_calls(profile=profile, manifest=str(manifest))
    assert len(first["uploaded"]) == 3 and len(second["skipped"]) == 3
    assert len(sandbox.uploads) == 3
    assert Artifact.get("kickscale-upload-proc") is not None
