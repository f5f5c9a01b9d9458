"""The sync job: plan windows, load them in committed batches, mark deletions, summarise."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pandas  # noqa: F401  dlt imports it lazily; with our reader threads running, that import raced
from dlt.pipeline.exceptions import PipelineStepFailed

from kickscale_sync import memory
from kickscale_sync import settings as api
from kickscale_sync.client import (
    ClientConfig,
    KickscaleClient,
    KickscaleError,
    KickscaleUnavailable,
)
from kickscale_sync.config import Profile, SyncSettings, resolve_base_url, resolve_credentials
from kickscale_sync.destinations import DELETIONS_TABLE, Destination, is_lock_error
from kickscale_sync.progress import ProgressBar
from kickscale_sync.records import WindowRows
from kickscale_sync.source import (
    QUARANTINE_TABLE,
    ROWS_PER_YIELD,
    TRANSCRIPTS_TABLE,
    LoadLimits,
    Prefetcher,
    ReadOptions,
    SourceContext,
    completed_until,
    kickscale_source,
    reader_threads,
)
from kickscale_sync.windows import Window, plan_windows, resume_start, to_wire, utc
from kickscale_sync.worker import shaping_pool

MIB = 1024 * 1024


@dataclass(frozen=True)
class SyncRequest:
    """One sync run. Without start/end it is incremental: resume minus lookback, up to now."""

    profile: Profile
    start: datetime | None = None
    end: datetime | None = None
    full_refresh: bool = False
    ids: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = api.ENDPOINTS
    now: datetime | None = None  # injected in tests and by scheduled flows
    show_progress: bool = False


@dataclass
class SyncSummary:
    rows: Counter[str] = field(default_factory=Counter)  # new or changed rows per table
    unchanged: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    deleted: int = 0
    windows: int = 0
    loads: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    range_start: datetime | None = None
    range_end: datetime | None = None
    published: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": dict(self.rows),
            "unchanged": dict(self.unchanged),
            "quarantined": dict(self.quarantined),
            "deleted": self.deleted,
            "windows": self.windows,
            "loads": self.loads,
            "pages": self.pages,
            "requests": self.requests,
            "retries": self.retries,
            "seconds": round(self.seconds, 2),
            "range": [
                to_wire(self.range_start) if self.range_start else None,
                to_wire(self.range_end) if self.range_end else None,
            ],
        }

    def render(self) -> str:
        tables = (
            ", ".join(f"{t} {n}" for t, n in sorted(self.rows.items())) or "no new or changed rows"
        )
        unchanged = sum(self.unchanged.values())
        span = (
            f"{to_wire(self.range_start)} .. {to_wire(self.range_end)}"
            if self.range_start and self.range_end
            else "by id"
        )
        lines = [
            f"synced {span}: {tables}; {unchanged} unchanged",
            f"{self.windows} windows in {_count(self.loads, 'load')}, {self.pages} pages, {self.requests} requests, "
            f"{self.retries} retries, {sum(self.quarantined.values())} quarantined, {self.deleted} marked deleted, "
            f"{self.seconds:.1f}s",
        ]
        return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


class SyncError(RuntimeError):
    """The sync stopped; the message says why and what to do.

    `transient` says whether running again later may succeed (the API or the file was busy), as
    opposed to a setting that must be fixed first (credentials, a redirect, a bad range).
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class _ExpectedArrowHints(logging.Filter):
    """dlt warns that our JSON column hints differ from Arrow's string type: that is on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "several column hints were different" not in record.getMessage()


def configure_dlt() -> None:
    # Arrow tables get `_dlt_load_id` too: deletions and the Parquet reader order versions by it.
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    # dlt keeps every loaded file under its working dir by default: a copy of all data, forever.
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    # dlt holds up to 5,000 rows per table before it writes them; of transcripts that is 150 MiB.
    os.environ.setdefault("DATA_WRITER__BUFFER_MAX_ITEMS", str(ROWS_PER_YIELD))
    # DuckDB reads a load file a row group per thread at a time: 256 transcripts are ~16 MB.
    os.environ.setdefault("DATA_WRITER__ROW_GROUP_SIZE", "256")
    dlt_logger = logging.getLogger("dlt")
    if not any(isinstance(f, _ExpectedArrowHints) for f in dlt_logger.filters):
        dlt_logger.addFilter(_ExpectedArrowHints())


def run_sync(request: SyncRequest, on_progress: Callable[[str], None] | None = None) -> SyncSummary:
    """Run one sync as described by `request` and return what it did."""
    started = time.monotonic()
    configure_dlt()
    memory.configure()
    profile = request.profile
    settings = profile.sync
    now = utc(request.now or datetime.now(UTC))
    destination = Destination(profile.destination)
    summary = SyncSummary()
    client = KickscaleClient(
        resolve_credentials(),
        ClientConfig(
            base_url=resolve_base_url(profile),
            timeout_seconds=settings.timeout_seconds,
            max_attempts=settings.max_attempts,
            backoff_seconds=settings.backoff_seconds,
            requests_per_second=settings.requests_per_second,
            max_connections=settings.concurrency,
        ),
    )
    try:
        client.check_credentials()  # one cheap read: a 403 stops here, before any window starts
        with destination.writing():
            pipeline = dlt.pipeline(
                pipeline_name=profile.pipeline_name,
                destination=destination.dlt_destination(),
                dataset_name=profile.destination.dataset,
                pipelines_dir=str(destination_working_dir(profile)),
            )
            _sync_into(pipeline, destination, client, request, now, summary, on_progress)
    except KickscaleError as error:
        raise SyncError(str(error), transient=isinstance(error, KickscaleUnavailable)) from None
    except duckdb.Error as error:
        if not is_out_of_memory(error):
            raise
        # Outside a load: reading what is loaded, keeping the newest transcripts, publishing.
        raise _out_of_memory(destination, "reading or publishing the loaded data") from None
    finally:
        client.close()
        stats = client.stats
        summary.pages, summary.requests, summary.retries = (
            stats.pages,
            stats.requests,
            stats.retries,
        )
        summary.seconds = time.monotonic() - started
    return summary


def _sync_into(
    pipeline: dlt.Pipeline,
    destination: Destination,
    client: KickscaleClient,
    request: SyncRequest,
    now: datetime,
    summary: SyncSummary,
    on_progress: Callable[[str], None] | None,
) -> None:
    """Plan the windows, load them in batches, mark deletions, publish."""
    settings = request.profile.sync
    _restore_state(pipeline, destination)
    plan = _plan(request, pipeline, now)
    summary.range_start, summary.range_end = plan.start, plan.end
    progress = ProgressBar(
        len(plan.windows) * len(request.endpoints),
        label="sync",
        unit="windows",
        enabled=request.show_progress,
    )
    tally = _Tally(summary, progress, request.endpoints)
    readers = reader_threads(settings.concurrency)
    with (
        ThreadPoolExecutor(readers, thread_name_prefix="kickscale") as pool,
        shaping_pool(_shaping_processes(settings, plan, request)) as shaper,
        progress,
    ):
        context = SourceContext(
            client=client,
            executor=pool,
            concurrency=readers,
            options=ReadOptions(
                page_size=settings.page_size,
                scopes=settings.scopes,
                transcripts=settings.transcripts,
                customer_domains=settings.customer_domains,
            ),
            on_window=tally,
            shaper=shaper,
            now=lambda: now,
            merge=destination.can_merge,
        )
        if request.ids:
            _load(pipeline, destination, kickscale_source(context, {}, ids=request.ids), summary)
        else:
            _load_in_batches(pipeline, destination, context, plan, request, summary, on_progress)
    # Only an unfiltered re-scan sees everything; a filtered one must not call the rest gone.
    complete_scan = not settings.customer_domains and set(settings.scopes) == set(api.SCOPES)
    if request.full_refresh and not request.ids and complete_scan:
        summary.deleted = _mark_deleted(
            pipeline, destination, plan, tally.seen, tally.unsure, now, summary
        )
    summary.published = destination.publish_current()


class _Tally:
    """Adds up the windows as they are read: the summary, the ids seen, the unsure windows."""

    def __init__(
        self, summary: SyncSummary, progress: ProgressBar, endpoints: Sequence[str]
    ) -> None:
        self.summary = summary
        self.progress = progress
        self.seen: dict[str, set[str]] = {endpoint: set() for endpoint in endpoints}
        # Windows where a record came without an id: any row there may be that record.
        self.unsure: dict[str, list[Window]] = {endpoint: [] for endpoint in endpoints}

    def __call__(self, endpoint: str, window: Window, rows: WindowRows) -> None:
        summary = self.summary
        summary.windows += 1
        summary.rows[endpoint] += rows.counts.get(endpoint, 0)
        summary.rows[TRANSCRIPTS_TABLE] += rows.counts.get(TRANSCRIPTS_TABLE, 0)
        summary.unchanged[endpoint] += rows.unchanged
        quarantined = rows.counts.get(QUARANTINE_TABLE, 0)
        if quarantined:
            summary.quarantined[endpoint] += quarantined
            summary.rows[QUARANTINE_TABLE] += quarantined
        self.seen[endpoint].update(rows.seen_ids)
        if not rows.complete:
            self.unsure[endpoint].append(window)
        self.progress.advance(f"{endpoint} {window.start:%Y-%m-%d}")


def _load_in_batches(
    pipeline: dlt.Pipeline,
    destination: Destination,
    context: SourceContext,
    plan: _Plan,
    request: SyncRequest,
    summary: SyncSummary,
    on_progress: Callable[[str], None] | None,
) -> None:
    """Load the plan's windows, read ahead, in loads cut by window count and by size."""
    settings = request.profile.sync
    context.known_hashes = {
        endpoint: destination.current_hashes(endpoint, plan.start, plan.end)
        for endpoint in request.endpoints
    }
    # Into a range that held no rows the loads only append: no vacuum at the end (see destinations).
    destination.compact_on_close = any(context.known_hashes.values())
    context.prefetcher = Prefetcher(
        context,
        [(e, w) for w in plan.windows for e in request.endpoints],
        budget_bytes=int(settings.read_ahead_mb * MIB),
    )
    context.load_limits = LoadLimits(
        windows=settings.windows_per_load,
        nbytes=int(settings.load_mb * MIB),
        conversations=settings.conversations_per_load,
    )
    # Each load takes windows from the front of these until its limits are reached.
    pending = {endpoint: deque(plan.windows) for endpoint in request.endpoints}
    try:
        while any(pending.values()):
            _load(pipeline, destination, kickscale_source(context, pending), summary)
            if on_progress:
                done = min(q[0].start if q else plan.end for q in pending.values())
                on_progress(f"loaded windows up to {to_wire(done)}")
    finally:
        context.prefetcher.cancel()  # a failed batch must not leave reads running


def _shaping_processes(settings: SyncSettings, plan: _Plan, request: SyncRequest) -> int:
    """A worker process costs its start and ~100 MiB: worth it for a backfill, not a nightly."""
    windows = len(plan.windows) * len(request.endpoints)
    worth_it = not request.ids and windows > 4 * settings.concurrency
    return settings.shaping_processes if worth_it else 0


@dataclass(frozen=True)
class _Plan:
    start: datetime
    end: datetime
    windows: list[Window]


def _plan(request: SyncRequest, pipeline: dlt.Pipeline, now: datetime) -> _Plan:
    settings = request.profile.sync
    end = utc(request.end) if request.end else now
    if request.start:
        start = utc(request.start)
    elif request.full_refresh:
        start = settings.backfill_start
    else:
        # Every endpoint starts from the earliest progress among them, so one plan serves both.
        marks = [completed_until(resource_state(pipeline, e)) for e in request.endpoints]
        earliest = None if any(m is None for m in marks) else min(m for m in marks if m)
        start = resume_start(earliest, settings.backfill_start, settings.lookback)
    if end <= start and not request.ids:
        raise SyncError(
            f"nothing to sync: the range {to_wire(start)} .. {to_wire(end)} is empty (check --start/--end)"
        )
    return _Plan(start, end, plan_windows(start, end, settings.window) if end > start else [])


def resource_state(pipeline: dlt.Pipeline, endpoint: str) -> dict[str, Any]:
    sources = pipeline.state.get("sources", {})
    return sources.get("kickscale", {}).get("resources", {}).get(endpoint, {})


def _restore_state(pipeline: dlt.Pipeline, destination: Destination) -> None:
    """Pick up state committed in the destination (a fresh machine, a deleted working dir)."""
    try:
        pipeline.sync_destination()
    except Exception as error:
        _raise_if_locked(destination, error)
        raise


def _load(
    pipeline: dlt.Pipeline,
    destination: Destination,
    data: Any,
    summary: SyncSummary,
    **options: Any,
) -> None:
    try:
        pipeline.run(data, loader_file_format="parquet", **options)
    except PipelineStepFailed as error:
        cause = _root_cause(error)
        if isinstance(cause, KickscaleError):
            raise cause from None
        if isinstance(cause, BrokenProcessPool):
            raise SyncError(
                "the worker process that parses pages died (killed, or out of memory?): run again "
                "to continue from the last committed load; sync.shaping_processes = 0 parses in "
                "this process instead",
                transient=True,
            ) from None
        _raise_if_locked(destination, error)
        if is_out_of_memory(cause):
            raise _out_of_memory(destination, "loading", "or lower sync.load_mb") from None
        # DuckDB appends multi-line advice to its messages: the first line says what happened.
        reason = next(iter(str(cause).strip().splitlines()), type(cause).__name__)
        raise SyncError(
            f"the load failed at step {error.step}: {reason}", transient=True
        ) from error
    summary.loads += 1
    destination.keep_newest_transcripts()
    destination.release_cache()
    memory.release_freed()


def _mark_deleted(
    pipeline: dlt.Pipeline,
    destination: Destination,
    plan: _Plan,
    seen: dict[str, set[str]],
    unsure: dict[str, list[Window]],
    now: datetime,
    summary: SyncSummary,
) -> int:
    """After a full re-scan: rows loaded before but not seen now no longer exist upstream.

    Windows where a record came without an id are left out: one of their rows may be that record.
    """
    gone = []
    for endpoint, seen_ids in seen.items():
        loaded = destination.current_dates(endpoint, plan.start, plan.end)
        gone += [
            {"endpoint": endpoint, "id": i, "deleted_at": now}
            for i, date in sorted(loaded.items())
            if i not in seen_ids and not any(w.start <= date < w.end for w in unsure[endpoint])
        ]
    if not gone:
        return 0
    destination.compact_on_close = True
    resource = dlt.resource(
        gone,
        name=DELETIONS_TABLE,
        write_disposition="append",
        columns={"deleted_at": {"data_type": "timestamp"}},
    )
    _load(pipeline, destination, resource, summary, schema=pipeline.default_schema)
    destination.apply_deletions()
    return len(gone)


def is_out_of_memory(error: BaseException) -> bool:
    """DuckDB's own out-of-memory error, or a commit that could not get the memory it needed."""
    if isinstance(error, duckdb.OutOfMemoryException):
        return True
    text = str(error)
    return isinstance(error, duckdb.TransactionException) and (
        "could not allocate" in text or "failed to pin" in text
    )


def _out_of_memory(destination: Destination, step: str, advice: str = "") -> SyncError:
    limit = destination.settings.duckdb_memory_limit or "DuckDB's default"
    advice = f", {advice}" if advice else ""
    return SyncError(
        f"DuckDB ran out of memory while {step} (destination.duckdb_memory_limit = {limit}): "
        f"raise it in the profile{advice}; a rerun continues from the last committed load"
    )


def _root_cause(error: BaseException) -> BaseException:
    seen = set()
    while error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__
    return error


def _raise_if_locked(destination: Destination, error: BaseException) -> None:
    cause = _root_cause(error)
    if is_lock_error(cause) or is_lock_error(error):
        raise destination.locked_error(cause) from None


def destination_working_dir(profile: Profile) -> Path:
    path = Path(profile.destination.working_dir)
    return path if path.is_absolute() else Path.cwd() / path
