"""Uploading calls from a manifest against the sandbox: validation, ledger, reruns, failures."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from kickscale_sync.sandbox import Faults, Sandbox
from kickscale_sync.sync import SyncRequest, run_sync
from kickscale_sync.upload import ManifestError, read_manifest, upload_calls

from .conftest import HISTORY_END
from .test_sync_process import write_profile

COLUMNS = ["file", "date", "direction", "caller_name", "caller_phone_number", "callee_name",
           "callee_phone_number", "external_call_id", "owner_email", "customer_domain"]  # fmt: skip


def write_manifest(
    folder: Path, sandbox: Sandbox, count: int, overrides: dict[int, dict] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        audio = folder / f"call-{i}.mp3"
        audio.write_bytes(b"ID3" + bytes([i % 256]) * (4096 + i))
        row = {
            "file": audio.name,
            "date": f"2025-12-{10 + i % 15:02d}T09:{i % 60:02d}:00Z",
            "direction": "outbound" if i % 2 else "inbound",
            "caller_name": "Anna", "caller_phone_number": "+43 1 234", "callee_name": "Bob",
            "callee_phone_number": "+49 30 567", "external_call_id": f"pbx-{i:04d}",
            "owner_email": sandbox.workspace.users[i % 3]["email"], "customer_domain": "globex.io",
        }  # fmt: skip
        row.update((overrides or {}).get(i, {}))
        rows.append(row)
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def setup(sandbox, profile_for, tmp_path):
    return sandbox, profile_for(sandbox), tmp_path


def ledger(profile) -> dict[str, tuple]:
    with duckdb.connect(profile.destination.path, read_only=True) as con:
        return {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT external_call_id, status, kickscale_id, attempts FROM uploads.ledger"
            ).fetchall()
        }


def test_every_bad_row_is_reported_before_anything_is_sent(setup) -> None:
    sandbox, profile, tmp_path = setup
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("not audio")
    (tmp_path / "m" / "empty.wav").write_bytes(b"")
    manifest = write_manifest(
        tmp_path / "m", sandbox, 8,
        {
            1: {"file": "missing.mp3"},
            2: {"file": "notes.txt"},
            3: {"date": "yesterday"},
            4: {"direction": "sideways"},
            5: {"external_call_id": "pbx-0000"},
            6: {"file": "empty.wav"},
            7: {"owner_email": ""},
        },
    )  # fmt: skip
    with pytest.raises(ManifestError) as raised:
        upload_calls(profile, manifest)
    message = str(raised.value)
    for expected in (
        "row 2: file missing.mp3 not found", "row 3: unsupported audio type .txt", "row 4: date 'yesterday'",
        "row 5: direction 'sideways'", "row 6: duplicate external_call_id 'pbx-0000' (also row 1)",
        "row 7: file empty.wav is empty", "row 8: owner_email is missing", "7 of 8 manifest rows are invalid",
    ):  # fmt: skip
        assert expected in message, expected
    assert "row 1:" not in message
    assert sandbox.uploads == []


def test_too_large_files_are_caught_in_the_manifest(setup) -> None:
    sandbox, _, tmp_path = setup
    manifest = write_manifest(tmp_path / "m", sandbox, 2)
    with pytest.raises(ManifestError, match="too large"):
        read_manifest(manifest, max_bytes=4097)


def test_upload_then_rerun_uploads_nothing_twice(setup) -> None:
    sandbox, profile, tmp_path = setup
    manifest = write_manifest(tmp_path / "m", sandbox, 6)
    dry = upload_calls(profile, manifest, dry_run=True)
    assert len(dry.planned) == 6 and sandbox.uploads == []
    first = upload_calls(profile, manifest)
    assert sorted(first.uploaded) == [f"pbx-{i:04d}" for i in range(6)] and not first.failed
    assert len(sandbox.uploads) == 6
    entries = ledger(profile)
    assert {e[0] for e in entries.values()} == {"uploaded"}
    assert {e[1] for e in entries.values()} == {u["id"] for u in sandbox.uploads}
    again = upload_calls(profile, manifest)
    assert again.uploaded == [] and len(again.skipped) == 6
    assert len(sandbox.uploads) == 6


def test_changed_audio_under_an_uploaded_id_is_refused(setup) -> None:
    sandbox, profile, tmp_path = setup
    manifest = write_manifest(tmp_path / "m", sandbox, 2)
    upload_calls(profile, manifest)
    (tmp_path / "m" / "call-1.mp3").write_bytes(b"ID3 another recording")
    run = upload_calls(profile, manifest)
    assert "pbx-0001" in run.failed and "different audio" in run.failed["pbx-0001"]
    assert len(sandbox.uploads) == 2


def test_failed_uploads_are_reported_and_retried_on_the_next_run(
    make_sandbox, profile_for, tmp_path
) -> None:
    sandbox = make_sandbox(faults=Faults(error_rate=0.6, seed=4))
    profile = profile_for(sandbox, max_attempts=1)
    manifest = write_manifest(tmp_path / "m", sandbox, 10)
    first = upload_calls(profile, manifest)
    assert first.failed and first.uploaded
    assert all(
        "503" in r or "502" in r or "500" in r or "kept failing" in r for r in first.failed.values()
    )
    sandbox.faults = Faults()
    second = upload_calls(profile, manifest)
    assert sorted(second.uploaded) == sorted(first.failed)
    assert len(sandbox.uploads) == 10  # each call exactly once
    assert {e[0] for e in ledger(profile).values()} == {"uploaded"}


def test_server_refusals_are_per_row(make_sandbox, profile_for, tmp_path) -> None:
    sandbox = make_sandbox(max_upload_bytes=4100)
    profile = profile_for(sandbox)
    manifest = write_manifest(tmp_path / "m", sandbox, 8)  # call-i.mp3 holds 4099 + i bytes
    run = upload_calls(profile, manifest)
    assert len(run.uploaded) == 2 and len(run.failed) == 6
    assert all("413" in reason and "too large" in reason for reason in run.failed.values())


def test_interrupted_run_resumes(make_sandbox, tmp_path, credentials_for, monkeypatch) -> None:
    sandbox = make_sandbox(faults=Faults(latency_ms=100))
    credentials_for(sandbox)
    monkeypatch.chdir(tmp_path)
    profile_path = write_profile(
        tmp_path / "up.toml", sandbox.url, tmp_path / "w.duckdb", tmp_path / ".dlt"
    )
    manifest = write_manifest(tmp_path / "m", sandbox, 12)
    process = subprocess.Popen(
        [sys.executable, "-m", "kickscale_sync.cli", "upload", str(manifest), "--profile", str(profile_path),
         "--concurrency", "1", "--verbose"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    assert process.stdout.readline().startswith("uploaded pbx-")  # one upload is in the ledger
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    from kickscale_sync.config import load_profile

    profile = load_profile(str(profile_path))
    done_before = len(ledger(profile))
    assert 1 <= done_before < 12
    run = upload_calls(profile, manifest)
    assert len(run.skipped) == done_before and len(run.uploaded) + done_before == 12
    # At most the one upload in flight at the kill can have reached the server without its ledger row.
    assert 12 <= len(sandbox.uploads) <= 13


def test_uploaded_calls_match_their_ledger_rows_after_the_next_sync(setup) -> None:
    sandbox, profile, tmp_path = setup
    manifest = write_manifest(tmp_path / "m", sandbox, 4)
    upload_calls(profile, manifest)
    sandbox.advance(hours=1)  # Kickscale analyses the uploads
    run_sync(SyncRequest(profile=profile, now=HISTORY_END + timedelta(hours=1)))
    upload_calls(profile, manifest)  # refreshes the view now that raw.calls exists
    with duckdb.connect(profile.destination.path, read_only=True) as con:
        rows = con.execute(
            "SELECT external_call_id, synced, ids_agree FROM uploads.ledger_matches ORDER BY 1"
        ).fetchall()
    assert rows == [(f"pbx-{i:04d}", True, True) for i in range(4)]


def test_jsonl_manifest(setup) -> None:
    sandbox, _, tmp_path = setup
    csv_manifest = write_manifest(tmp_path / "m", sandbox, 3)
    with csv_manifest.open() as handle:
        rows = list(csv.DictReader(handle))
    jsonl = tmp_path / "m" / "manifest.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [c.external_call_id for c in read_manifest(jsonl)] == [
        "pbx-0000",
        "pbx-0001",
        "pbx-0002",
    ]
