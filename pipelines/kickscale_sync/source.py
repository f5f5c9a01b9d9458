"""The dlt source `kickscale`: resources `meetings` and `calls`, read in date windows.

Each resource reads its planned windows concurrently (a shared, bounded thread pool), every page
of every window, merges each window by id, and yields rows to its own table plus two companion
tables: `transcripts` (one row per conversation) and `quarantine` (records that could not be
loaded, with the reason). Rows whose content did not change since the last load are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from kickscale_sync import settings as api
from kickscale_sync.client import KickscaleClient
from kickscale_sync.records import (
    COLUMNS_BY_ENDPOINT,
    QUARANTINE_COLUMNS,
    TRANSCRIPT_COLUMNS,
    BadRecord,
    WindowRows,
    quarantine_row,
    shape,
)
from kickscale_sync.windows import Window, utc

TRANSCRIPTS_TABLE = "transcripts"
QUARANTINE_TABLE = "quarantine"
MAX_WINDOW_REREADS = 3
_KEYS = frozenset({"id", "conversation_id", "quarantine_id"})


@dataclass(frozen=True)
class ReadOptions:
    page_size: int = api.MAX_PAGE_SIZE
    scopes: tuple[str, ...] = api.SCOPES
    transcripts: bool = True
    customer_domains: tuple[str, ...] = ()

    @property
    def expand(self) -> tuple[str, ...]:
        return (api.EXPAND_USER, api.EXPAND_TRANSCRIPT) if self.transcripts else (api.EXPAND_USER,)


@dataclass
class SourceContext:
    """What the resources share: the client, the pool, what is already loaded, and callbacks."""

    client: KickscaleClient
    executor: Executor
    concurrency: int
    options: ReadOptions = field(default_factory=ReadOptions)
    known_hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    on_window: Callable[[str, Window, WindowRows], None] | None = None
    merge: bool = True  # False for destinations that cannot merge (plain Parquet files)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def _columns(spec: dict[str, str], dedup_on: str | None = None) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {
        name: {"data_type": data_type, "nullable": name not in _KEYS}
        for name, data_type in spec.items()
    }
    if dedup_on:
        columns[dedup_on]["dedup_sort"] = "desc"  # the newest version wins inside one load
    return columns


def _table_hints(endpoint: str, merge: bool) -> dict[str, Any]:
    """Merge on the key where the destination can; elsewhere append, and the reader dedupes."""
    disposition = "merge" if merge else "append"
    return {
        endpoint: dlt.mark.make_hints(
            table_name=endpoint,
            write_disposition=disposition,
            primary_key="id",
            columns=_columns(
                COLUMNS_BY_ENDPOINT[endpoint], dedup_on="updated_at" if merge else None
            ),
        ),
        TRANSCRIPTS_TABLE: dlt.mark.make_hints(
            table_name=TRANSCRIPTS_TABLE,
            write_disposition=disposition,
            primary_key="conversation_id",
            columns=_columns(TRANSCRIPT_COLUMNS),
        ),
        QUARANTINE_TABLE: dlt.mark.make_hints(
            table_name=QUARANTINE_TABLE,
            write_disposition=disposition,
            primary_key="quarantine_id",
            columns=_columns(QUARANTINE_COLUMNS),
        ),
    }


@dlt.source(name="kickscale", max_table_nesting=0)
def kickscale_source(
    context: SourceContext,
    plan: dict[str, Sequence[Window]],
    ids: Sequence[str] = (),
) -> list[DltResource]:
    """Resources for each endpoint in `plan` (windows to read), or for the given ids only."""
    if ids:
        return [_by_id_resource(context, endpoint, ids) for endpoint in api.ENDPOINTS]
    return [_windowed_resource(context, endpoint, windows) for endpoint, windows in plan.items()]


def _windowed_resource(
    context: SourceContext, endpoint: str, windows: Sequence[Window]
) -> DltResource:
    hints = _table_hints(endpoint, context.merge)

    def conversations() -> Iterator[Any]:
        for rows in _read_windows(context, endpoint, windows):
            yield from _marked(rows, endpoint, hints)
        if windows:
            _advance_progress(dlt.current.resource_state(), windows)

    return dlt.resource(conversations, name=endpoint, max_table_nesting=0)()


def _by_id_resource(context: SourceContext, endpoint: str, ids: Sequence[str]) -> DltResource:
    hints = _table_hints(endpoint, context.merge)

    def conversations() -> Iterator[Any]:
        now = context.now()
        rows = WindowRows()
        for record_id in ids:
            record = context.client.get_by_id(endpoint, record_id, context.options.expand)
            if record is not None:
                _shape_into(rows, record, endpoint, None, now, {})
        if context.on_window:
            context.on_window(endpoint, Window(now.replace(year=1970), now), rows)
        yield from _marked(rows, endpoint, hints)

    return dlt.resource(conversations, name=endpoint, max_table_nesting=0)()


def _marked(rows: WindowRows, endpoint: str, hints: dict[str, Any]) -> Iterator[Any]:
    for table, items in (
        (endpoint, rows.rows),
        (TRANSCRIPTS_TABLE, rows.transcripts),
        (QUARANTINE_TABLE, rows.quarantined),
    ):
        if items:
            yield dlt.mark.with_hints(items, hints[table], create_table_variant=True)


def _advance_progress(state: dict[str, Any], windows: Sequence[Window]) -> None:
    """Record the last instant up to which every window is loaded, only ever moving forward.

    A batch that starts after the recorded point (a re-sync of a later range) would leave a gap,
    so it does not move the mark.
    """
    first, last = min(w.start for w in windows), max(w.end for w in windows)
    recorded = state.get("completed_until")
    if recorded is None:
        state["completed_until"] = last.isoformat()
        state["started_at"] = first.isoformat()
        return
    done = datetime.fromisoformat(recorded)
    if first <= done < last:
        state["completed_until"] = last.isoformat()


def completed_until(resource_state: dict[str, Any] | None) -> datetime | None:
    value = (resource_state or {}).get("completed_until")
    return utc(datetime.fromisoformat(value)) if value else None


def _read_windows(
    context: SourceContext, endpoint: str, windows: Sequence[Window]
) -> Iterator[WindowRows]:
    """Read windows on the shared pool, at most `concurrency` in flight, yielding as they finish."""
    pending: set[Future[tuple[Window, WindowRows]]] = set()
    queue = list(windows)
    known = context.known_hashes.get(endpoint, {})
    try:
        while queue or pending:
            while queue and len(pending) < context.concurrency:
                pending.add(
                    context.executor.submit(_read_window, context, endpoint, queue.pop(0), known)
                )
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                window, rows = future.result()
                if context.on_window:
                    context.on_window(endpoint, window, rows)
                yield rows
    finally:
        for future in pending:
            future.cancel()


def _read_window(
    context: SourceContext, endpoint: str, window: Window, known: dict[str, str]
) -> tuple[Window, WindowRows]:
    records = read_window_records(context.client, endpoint, window, context.options)
    rows = WindowRows()
    now = context.now()
    for record in records:
        _shape_into(rows, record, endpoint, window, now, known)
    return window, rows


def _shape_into(
    rows: WindowRows,
    record: Any,
    endpoint: str,
    window: Window | None,
    now: datetime,
    known: dict[str, str],
) -> None:
    try:
        shaped = shape(record, endpoint, now)
    except BadRecord as error:
        start, end = (window.start, window.end) if window else (None, None)
        rows.quarantined.append(quarantine_row(record, endpoint, str(error), start, end, now))
        return
    rows.seen_ids.append(shaped.row["id"])
    if known.get(shaped.row["id"]) == shaped.row["content_hash"]:
        rows.unchanged += 1
        return
    rows.rows.append(shaped.row)
    if shaped.transcript:
        rows.transcripts.append(shaped.transcript)


def read_window_records(
    client: KickscaleClient, endpoint: str, window: Window, options: ReadOptions
) -> list[Any]:
    """Every record of one window, merged by id.

    Page-number paging shifts when rows appear or vanish mid-read, so a window whose reported
    total changed while it was read is read again (up to a bound), merging all reads by id.
    """
    merged: dict[str, Any] = {}
    anonymous: list[Any] = []
    for _ in range(MAX_WINDOW_REREADS):
        anonymous = []
        stable = True
        for domain in options.customer_domains or (None,):
            totals = set()
            for records, meta in _pages(client, endpoint, window, options, domain):
                totals.add(meta.get("total"))
                for record in records:
                    record_id = record.get("id") if isinstance(record, dict) else None
                    if isinstance(record_id, str) and record_id:
                        merged[record_id] = record
                    else:
                        anonymous.append(record)
            stable = stable and len(totals) <= 1
        if stable:
            break
    return [*merged.values(), *anonymous]


def _pages(
    client: KickscaleClient, endpoint: str, window: Window, options: ReadOptions, domain: str | None
) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    size = options.page_size
    params: dict[str, Any] = {
        api.PAGE_SIZE_PARAM: size,
        api.SORTING_ORDER_PARAM: api.ASCENDING,
        api.SCOPES_PARAM: ",".join(options.scopes),
        api.EXPAND_PARAM: ",".join(options.expand),
        **window.params,
    }
    if domain:
        params[api.CUSTOMER_DOMAIN_PARAM] = domain
    page = api.FIRST_PAGE
    while True:
        records, meta = client.list_page(endpoint, {**params, api.PAGE_PARAM: page})
        client.stats.record(page=True)
        yield records, meta
        total = meta.get("total")
        if len(records) < size or (isinstance(total, int) and (page + 1) * size >= total):
            return
        page += 1
