"""Upload calls recorded elsewhere into Kickscale, from a manifest, safely re-runnable.

Every manifest row is checked before anything is sent; all bad rows are reported at once. A ledger
table (`uploads.ledger` in the project's DuckDB database) records each upload by `externalCallId`
with the file's SHA-256 and the id Kickscale returned, so a rerun sends nothing twice and an
interrupted run continues where it stopped. After the next sync, `uploads.ledger_matches` joins
the ledger to `raw.calls` on `externalCallId`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from kickscale_sync import settings as api
from kickscale_sync.client import (
    ClientConfig,
    KickscaleClient,
    KickscaleError,
    KickscaleUnavailable,
)
from kickscale_sync.config import Profile, resolve_base_url, resolve_credentials
from kickscale_sync.destinations import Destination, is_lock_error
from kickscale_sync.progress import ProgressBar
from kickscale_sync.windows import parse_instant, to_wire

MANIFEST_COLUMNS = (
    "file",
    "date",
    "direction",
    "caller_name",
    "caller_phone_number",
    "callee_name",
    "callee_phone_number",
    "external_call_id",
    "owner_email",
    "customer_domain",
)
REQUIRED_COLUMNS = ("file", "date", "direction", "external_call_id", "owner_email")
UPLOADED, FAILED = "uploaded", "failed"


class ManifestError(ValueError):
    """The manifest has bad rows; nothing was uploaded. The message lists every one."""


@dataclass(frozen=True)
class CallToUpload:
    row: int  # 1-based data row number in the manifest (the header is row 0)
    audio: Path
    date: datetime
    direction: str
    external_call_id: str
    owner_email: str
    caller_name: str = ""
    caller_phone_number: str = ""
    callee_name: str = ""
    callee_phone_number: str = ""
    customer_domain: str = ""
    sha256: str = ""
    size: int = 0

    def fields(self) -> dict[str, str]:
        """The assumed form fields of `POST /calls` (see settings.UPLOAD_FIELDS)."""
        values = {
            "date": to_wire(self.date),
            "direction": self.direction,
            "callerName": self.caller_name,
            "callerPhoneNumber": self.caller_phone_number,
            "calleeName": self.callee_name,
            "calleePhoneNumber": self.callee_phone_number,
            "externalCallId": self.external_call_id,
            "userEmail": self.owner_email,
            "customerDomain": self.customer_domain,
        }
        return {k: v for k, v in values.items() if v}

    @property
    def content_type(self) -> str:
        return api.UPLOAD_AUDIO_TYPES[self.audio.suffix.lower()]


@dataclass
class UploadRun:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # external_call_id -> reason
    planned: list[str] = field(default_factory=list)  # dry run: what would be uploaded

    def render(self, dry_run: bool = False) -> str:
        if dry_run:
            lines = [
                f"dry run: would upload {len(self.planned)}, skip {len(self.skipped)} already uploaded"
            ]
            lines += [f"  upload {external_id}" for external_id in self.planned]
            return "\n".join(lines)
        lines = [
            f"uploaded {len(self.uploaded)}, skipped {len(self.skipped)} already uploaded, failed {len(self.failed)}"
        ]
        lines += [
            f"  failed {external_id}: {reason}" for external_id, reason in self.failed.items()
        ]
        return "\n".join(lines)


# ------------------------------------------------------------------------------ manifest
def read_manifest(path: Path, max_bytes: int = api.UPLOAD_MAX_BYTES) -> list[CallToUpload]:
    """Every row checked; raises ManifestError listing all bad rows, or returns the calls."""
    if not path.is_file():
        raise ManifestError(f"manifest {path} not found")
    rows = list(_manifest_rows(path))
    problems: list[str] = []
    calls: list[CallToUpload] = []
    seen: dict[str, int] = {}
    for number, raw in rows:
        reasons = _row_problems(raw, path.parent, max_bytes)
        external_id = (raw.get("external_call_id") or "").strip()
        if external_id and external_id in seen:
            reasons.append(
                f"duplicate external_call_id {external_id!r} (also row {seen[external_id]})"
            )
        elif external_id:
            seen[external_id] = number
        if reasons:
            problems.append(f"row {number}: {'; '.join(reasons)}")
        else:
            calls.append(_call_from(number, raw, path.parent))
    if problems:
        raise ManifestError(
            f"{len(problems)} of {len(rows)} manifest rows are invalid, nothing was uploaded:\n"
            + "\n".join(problems)
        )
    return calls


def _manifest_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate((line for line in handle if line.strip()), start=1):
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    yield number, {"__error__": f"not valid JSON ({error.msg})"}
                    continue
                yield (
                    number,
                    {k: "" if v is None else str(v) for k, v in value.items()}
                    if isinstance(value, dict)
                    else {"__error__": "not a JSON object"},
                )
        return
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(
                f"manifest {path.name} lacks the column(s) {', '.join(missing)}; expected {', '.join(MANIFEST_COLUMNS)}"
            )
        for number, row in enumerate(reader, start=1):
            yield number, {k: (v or "").strip() for k, v in row.items() if k}


def _row_problems(raw: dict[str, str], base: Path, max_bytes: int) -> list[str]:
    if "__error__" in raw:
        return [raw["__error__"]]
    problems = [f"{name} is missing" for name in REQUIRED_COLUMNS if not raw.get(name, "").strip()]
    audio_name = raw.get("file", "").strip()
    if audio_name:
        audio = _resolve(base, audio_name)
        if audio.suffix.lower() not in api.UPLOAD_AUDIO_TYPES:
            problems.append(
                f"unsupported audio type {audio.suffix or '(none)'} (use {', '.join(api.UPLOAD_AUDIO_TYPES)})"
            )
        if not audio.is_file():
            problems.append(f"file {audio_name} not found")
        else:
            try:
                with audio.open("rb"):
                    pass
                size = audio.stat().st_size
            except OSError as error:
                problems.append(f"file {audio_name} unreadable ({error.strerror})")
            else:
                if size == 0:
                    problems.append(f"file {audio_name} is empty")
                elif size > max_bytes:
                    problems.append(
                        f"file {audio_name} is too large ({size} bytes; the limit is {max_bytes})"
                    )
    if raw.get("date", "").strip():
        try:
            parse_instant(raw["date"])
        except ValueError:
            problems.append(f"date {raw['date']!r} is not a date like 2026-03-01T09:30:00Z")
    direction = raw.get("direction", "").strip().lower()
    if direction and direction not in api.CALL_DIRECTIONS:
        problems.append(
            f"direction {raw['direction']!r} is not one of {', '.join(api.CALL_DIRECTIONS)}"
        )
    email = raw.get("owner_email", "").strip()
    if email and "@" not in email:
        problems.append(f"owner_email {email!r} is not an email address")
    return problems


def _call_from(number: int, raw: dict[str, str], base: Path) -> CallToUpload:
    audio = _resolve(base, raw["file"].strip())
    return CallToUpload(
        row=number,
        audio=audio,
        date=parse_instant(raw["date"]),
        direction=raw["direction"].strip().lower(),
        external_call_id=raw["external_call_id"].strip(),
        owner_email=raw["owner_email"].strip().lower(),
        caller_name=raw.get("caller_name", "").strip(),
        caller_phone_number=raw.get("caller_phone_number", "").strip(),
        callee_name=raw.get("callee_name", "").strip(),
        callee_phone_number=raw.get("callee_phone_number", "").strip(),
        customer_domain=raw.get("customer_domain", "").strip().lower(),
        sha256=_sha256(audio),
        size=audio.stat().st_size,
    )


def _resolve(base: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -------------------------------------------------------------------------------- ledger
class Ledger:
    """`uploads.ledger` in a DuckDB file: one row per externalCallId. Thread-safe."""

    def __init__(self, database: Path) -> None:
        database.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(database))
        except duckdb.Error as error:
            if is_lock_error(error):
                raise KickscaleError(
                    f"the ledger database {database} is locked by another process: close it and run again"
                ) from None
            raise
        self._lock = threading.Lock()
        self._con.execute("CREATE SCHEMA IF NOT EXISTS uploads").fetchall()
        self._con.execute(
            """
            CREATE TABLE IF NOT EXISTS uploads.ledger (
                external_call_id VARCHAR PRIMARY KEY,
                content_sha256 VARCHAR NOT NULL,
                file VARCHAR NOT NULL,
                kickscale_id VARCHAR,
                status VARCHAR NOT NULL,
                error VARCHAR,
                attempts INTEGER NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL
            )
            """
        ).fetchall()
        self._refresh_matches_view()

    def close(self) -> None:
        self._refresh_matches_view()
        self._con.close()

    def entries(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            relation = self._con.sql("SELECT * FROM uploads.ledger")
            columns = relation.columns
            return {row[0]: dict(zip(columns, row, strict=True)) for row in relation.fetchall()}

    def record(
        self,
        call: CallToUpload,
        status: str,
        kickscale_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._lock:
            self._con.execute(
                """
                INSERT INTO uploads.ledger VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                ON CONFLICT (external_call_id) DO UPDATE SET
                    content_sha256 = excluded.content_sha256, file = excluded.file,
                    kickscale_id = coalesce(excluded.kickscale_id, uploads.ledger.kickscale_id),
                    status = excluded.status, error = excluded.error,
                    attempts = uploads.ledger.attempts + 1, updated_at = excluded.updated_at
                """,
                [
                    call.external_call_id,
                    call.sha256,
                    str(call.audio),
                    kickscale_id,
                    status,
                    error,
                    datetime.now(UTC),
                ],
            ).fetchall()

    def _refresh_matches_view(self) -> None:
        """Once calls are synced into this database: the ledger beside the call Kickscale made."""
        has_calls = self._con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = 'calls'"
        ).fetchall()
        if has_calls:
            self._con.execute(
                """
                CREATE OR REPLACE VIEW uploads.ledger_matches AS
                SELECT l.*, c.id AS synced_call_id, c.id IS NOT NULL AS synced,
                       c.id IS NOT NULL AND c.id = l.kickscale_id AS ids_agree
                FROM uploads.ledger AS l
                LEFT JOIN raw.calls AS c ON c.external_call_id = l.external_call_id AND c.deleted_at IS NULL
                """
            ).fetchall()


def ledger_path(profile: Profile) -> Path:
    """The project's database: the DuckDB destination, or the analytics file for Parquet."""
    destination = Destination(profile.destination)
    if destination.kind == "duckdb":
        return Path(destination.location)
    return Path(profile.destination.analytics_database)


# -------------------------------------------------------------------------------- upload
def upload_calls(
    profile: Profile,
    manifest: Path,
    *,
    dry_run: bool = False,
    concurrency: int = 4,
    on_done: Callable[[CallToUpload, str], None] | None = None,
    show_progress: bool = False,
) -> UploadRun:
    """Validate the manifest, then upload what the ledger has not seen; returns what happened."""
    calls = read_manifest(manifest)
    ledger = Ledger(ledger_path(profile))
    run = UploadRun()
    try:
        done = ledger.entries()
        todo = []
        for call in calls:
            entry = done.get(call.external_call_id)
            if entry and entry["status"] == UPLOADED:
                if entry["content_sha256"] != call.sha256:
                    run.failed[call.external_call_id] = (
                        f"row {call.row}: already uploaded as {entry['kickscale_id']} with different audio; "
                        "give the new recording its own external_call_id"
                    )
                else:
                    run.skipped.append(call.external_call_id)
                continue
            todo.append(call)
        if dry_run:
            run.planned = [c.external_call_id for c in todo]
            return run
        if not todo:
            return run
        settings = profile.sync
        client = KickscaleClient(
            resolve_credentials(),
            ClientConfig(
                base_url=resolve_base_url(profile),
                timeout_seconds=max(settings.timeout_seconds, 300),
                max_attempts=settings.max_attempts,
                backoff_seconds=settings.backoff_seconds,
                requests_per_second=settings.requests_per_second,
                max_connections=concurrency,
            ),
        )
        # Bad credentials stop here, not as one failure per row; a busy API is each upload's business.
        with suppress(KickscaleUnavailable):
            client.check_credentials()
        bar = ProgressBar(len(todo), label="upload", unit="calls", enabled=show_progress)
        with client, bar, ThreadPoolExecutor(concurrency, thread_name_prefix="upload") as pool:
            futures = {
                pool.submit(client.upload_call, c.audio, c.fields(), c.content_type): c
                for c in todo
            }
            for future in as_completed(futures):
                call = futures[future]
                try:
                    kickscale_id = future.result()
                except KickscaleError as error:
                    ledger.record(call, FAILED, error=str(error))
                    run.failed[call.external_call_id] = f"row {call.row}: {error}"
                    status = FAILED
                else:
                    ledger.record(call, UPLOADED, kickscale_id=kickscale_id)
                    run.uploaded.append(call.external_call_id)
                    status = UPLOADED
                bar.advance(call.external_call_id)
                if on_done:
                    on_done(call, status)
    finally:
        ledger.close()
    return run
