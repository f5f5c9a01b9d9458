"""The sync as a separate process: killed mid-backfill it resumes; a reader's lock fails clearly."""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from kickscale_sync import settings as api
from kickscale_sync.destinations import DestinationLocked
from kickscale_sync.sandbox import Faults
from kickscale_sync.sync import SyncError, SyncRequest, run_sync

from .conftest import HISTORY_END, HISTORY_START
from .test_sync import loaded, query, upstream

pytestmark = pytest.mark.slow  # separate processes and real waits

CLI = [sys.executable, "-m", "kickscale_sync.cli"]


def write_profile(
    path: Path, sandbox_url: str, db: Path, working_dir: Path, **sync: object
) -> Path:
    settings = {
        "backfill_start": f'"{HISTORY_START:%Y-%m-%d}"',
        "window_days": 7,
        "lookback_days": 0,
        "concurrency": 2,
        "requests_per_second": 0,
        "windows_per_load": 2,
        "backoff_seconds": 0.01,
        **sync,
    }
    lines = ['name = "proc"', "[kickscale]", f'base_url = "{sandbox_url}"', "[sync]"]
    lines += [f"{k} = {v}" for k, v in settings.items()]
    lines += [
        "[destination]",
        'kind = "duckdb"',
        f'path = "{db}"',
        f'working_dir = "{working_dir}"',
        "lock_timeout_seconds = 1",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def spawned_processes(pid: int) -> list[int]:
    """The multiprocessing children of `pid`, whichever of its threads started them."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue  # the thread ended meanwhile
        found += [int(c) for c in children if b"multiprocessing" in _cmdline(int(c))]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ended_within(pid: int, seconds: float) -> bool:
    """Whether process `pid` (not necessarily a child) ends within `seconds`, without polling."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], seconds)[0])
    finally:
        os.close(handle)


def test_killed_backfill_resumes_without_duplicates_or_gaps(
    make_sandbox, tmp_path, credentials_for, monkeypatch
) -> None:
    sandbox = make_sandbox(faults=Faults(latency_ms=40))
    credentials_for(sandbox)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "warehouse.duckdb"
    profile_path = write_profile(tmp_path / "proc.toml", sandbox.url, db, tmp_path / ".dlt")
    process = subprocess.Popen(
        [
            *CLI,
            "sync",
            "--profile",
            str(profile_path),
            "--end",
            "2026-01-01T00:00:00Z",
            "--verbose",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    first_line = process.stdout.readline()  # blocks until the first load is committed
    assert first_line.startswith("loaded windows up to"), first_line + process.stderr.read()
    workers = spawned_processes(process.pid)
    assert workers  # the shaping worker (and multiprocessing's resource tracker)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert all(ended_within(worker, seconds=30) for worker in workers)  # none left behind

    from kickscale_sync.config import load_profile

    profile = load_profile(str(profile_path))
    summary = run_sync(SyncRequest(profile=profile, end=HISTORY_END, now=HISTORY_END))
    assert summary.range_start > HISTORY_START  # continued after the committed windows
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)
        assert query(profile, f"SELECT count(*) - count(DISTINCT id) FROM raw.{endpoint}") == [(0,)]


def test_a_reader_holding_the_file_gives_a_clear_error(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    run_sync(SyncRequest(profile=profile, now=HISTORY_END))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({profile.destination.path!r}, read_only=True); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DestinationLocked) as raised:
            run_sync(SyncRequest(profile=profile, now=HISTORY_END))
        message = str(raised.value)
        assert "locked by another process" in message and str(holder.pid) in message
        assert "lock_timeout_seconds" in message and "\n" not in message
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    summary = run_sync(SyncRequest(profile=profile, now=HISTORY_END))
    assert summary.loads >= 1


def test_cli_reports_a_locked_file_in_one_line(sandbox, profile_for, tmp_path) -> None:
    profile = profile_for(sandbox)
    run_sync(SyncRequest(profile=profile, now=HISTORY_END))
    profile_path = write_profile(
        tmp_path / "cli.toml", sandbox.url, Path(profile.destination.path), tmp_path / ".dlt"
    )
    with duckdb.connect(profile.destination.path, read_only=True):
        result = subprocess.run(
            [*CLI, "sync", "--profile", str(profile_path), "--end", "2026-01-01T00:00:00Z"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.startswith("error: the DuckDB file") and result.stderr.count("\n") == 1


def test_a_killed_shaping_worker_fails_the_run_clearly_and_a_rerun_completes(
    make_sandbox, profile_for
) -> None:
    sandbox = make_sandbox(faults=Faults(latency_ms=20))
    # No read-ahead: every later window still needs the worker when it is killed.
    profile = profile_for(sandbox, concurrency=2, shaping_processes=1, read_ahead_mb=0.001)

    def kill_the_worker(_: str) -> None:  # called after each committed load
        for worker in multiprocessing.active_children():
            os.kill(worker.pid, signal.SIGKILL)

    with pytest.raises(SyncError, match="worker process that parses pages died") as failed:
        run_sync(SyncRequest(profile=profile, now=HISTORY_END), on_progress=kill_the_worker)
    assert failed.value.transient  # the flows retry it
    summary = run_sync(SyncRequest(profile=profile, now=HISTORY_END))
    assert summary.range_start > HISTORY_START  # continued after the committed load
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)
