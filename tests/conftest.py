"""Shared fixtures: a real sandbox on loopback, and profiles that point at it."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

# Quiet, offline, and never the user's own Prefect or dlt settings.
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# Prefect, before anything imports it: a throwaway home, no analytics, quiet logs.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="kickscale-prefect-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

from kickscale_sync.config import DestinationSettings, Profile, SyncSettings
from kickscale_sync.sandbox import Faults, Sandbox, WorkspaceSpec

# Registered before anything imports Prefect and registers its exit handlers: this runs last.
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

HISTORY_START = datetime(2025, 10, 1, tzinfo=UTC)
HISTORY_END = datetime(2026, 1, 1, tzinfo=UTC)  # the sandbox clock starts here: our "now"


def small_spec(**changes: object) -> WorkspaceSpec:
    values: dict[str, object] = {
        "seed": 11,
        "meetings": 300,
        "calls": 300,
        "start": HISTORY_START,
        "end": HISTORY_END,
        "transcript_words": 300,
    }
    values.update(changes)
    return WorkspaceSpec(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def start(
        spec: WorkspaceSpec | None = None, faults: Faults | None = None, **options: object
    ) -> Sandbox:
        sandbox = Sandbox(spec or small_spec(), faults=faults, **options).start()  # type: ignore[arg-type]
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def credentials_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[Sandbox], None]:
    def point_at(sandbox: Sandbox) -> None:
        monkeypatch.setenv("SOURCES__KICKSCALE__API_KEY", sandbox.api_key)
        monkeypatch.setenv("SOURCES__KICKSCALE__CLIENT_ID", sandbox.client_id)
        monkeypatch.setenv("SOURCES__KICKSCALE__BASE_URL", sandbox.url)

    return point_at


@pytest.fixture
def profile_for(
    tmp_path: Path, credentials_for: Callable[[Sandbox], None], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Profile]:
    monkeypatch.chdir(tmp_path)

    def build(sandbox: Sandbox, kind: str = "duckdb", **sync: object) -> Profile:
        credentials_for(sandbox)
        path = "warehouse.duckdb" if kind == "duckdb" else "lake"
        sync_values: dict[str, object] = {
            "backfill_start": HISTORY_START,
            "window_days": 7,
            "lookback_days": 14,
            "concurrency": 4,
            "requests_per_second": 0,
            "windows_per_load": 4,
            "max_attempts": 6,
            "timeout_seconds": 10,
        }
        sync_values.update(sync)
        return Profile(
            name="test",
            base_url=sandbox.url,
            sync=SyncSettings(**sync_values),  # type: ignore[arg-type]
            destination=DestinationSettings(
                kind=kind,
                path=str(tmp_path / path),
                working_dir=str(tmp_path / ".dlt"),
                lock_timeout_seconds=1,
            ),
            export_path=str(tmp_path / "exports"),
        )

    return build


AS_OF = date(2026, 3, 31)
FIXTURE = Path(__file__).with_name("models_fixture.sql")


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The crafted warehouse of models_fixture.sql, with the models built as of AS_OF."""
    from kickscale_sync.models import build

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(FIXTURE.read_text())
    build(con, AS_OF)
    yield con
    con.close()
