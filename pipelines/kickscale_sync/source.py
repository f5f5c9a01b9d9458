"""The dlt source `kickscale`: resources `meetings` and `calls`, read in date windows.

Windows are fetched ahead of the loads on a shared, bounded thread pool (`Prefetcher`); each page
is parsed and shaped into Arrow tables (in a worker process when the sync has one), and a window's
pages are merged by id. Each resource yields rows to its own table plus two companion tables:
`transcripts` (one row per conversation) and `quarantine` (records that could not be loaded, with
the reason). Rows whose content did not change since the last load are skipped.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from kickscale_sync import settings as api
from kickscale_sync.client import KickscaleClient
from kickscale_sync.records import (
    COLUMNS_BY_ENDPOINT,
    QUARANTINE_COLUMNS,
    QUARANTINE_TABLE,
    TRANSCRIPT_COLUMNS,
    TRANSCRIPTS_TABLE,
    PageRows,
    WindowRows,
    shape_into,
    shape_page,
)
from kickscale_sync.windows import Window, utc

MAX_WINDOW_REREADS = 3
# dlt computes a table's schema for every item it is given: hand it a few big tables.
ROWS_PER_YIELD = 1_000
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


@dataclass(frozen=True)
class LoadLimits:
    """Where one load stops, per resource: after `windows` windows, `nbytes` of rows (Arrow), or
    `conversations` conversations, whichever comes first; 0 means no bound.

    Bounding loads by conversations and size, not only by windows, keeps them alike however
    dense the data is.
    """

    windows: int = 0
    nbytes: int = 0
    conversations: int = 0

    def reached(self, windows: int, nbytes: int, conversations: int = 0) -> bool:
        return (
            (0 < self.windows <= windows)
            or (0 < self.nbytes <= nbytes)
            or (0 < self.conversations <= conversations)
        )


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
    prefetcher: Prefetcher | None = None  # set by a sync that spans several loads
    load_limits: LoadLimits = field(default_factory=LoadLimits)
    shaper: Executor | None = None  # a process pool that parses and shapes pages, if any
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def _columns(spec: dict[str, str], dedup_on: str | None = None) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {
        name: {"data_type": data_type, "nullable": name not in _KEYS}
        for name, data_type in spec.items()
    }
    if dedup_on:
        columns[dedup_on]["dedup_sort"] = "desc"  # the newest version wins inside one load
    return columns


def _conversation_resource(
    name: str, endpoint: str, rows: Callable[[], Iterator[Any]], merge: bool
) -> DltResource:
    """A resource writing to its endpoint's table, `transcripts` and `quarantine`.

    The hints of all three tables are declared once here (as table variants); the generator
    only routes each Arrow table by name, which keeps extraction cheap.

    Transcripts are always appended: they are nine tenths of the bytes, and a merge would copy
    them through a staging table and a de-duplicating window. The destination keeps the newest
    version of each afterwards (`Destination.keep_newest_transcripts`).
    """
    disposition = "merge" if merge else "append"  # append where the destination cannot merge
    resource = dlt.resource(rows, name=name, max_table_nesting=0)()
    for table, key, spec, dedup, table_disposition in (
        (
            endpoint,
            "id",
            COLUMNS_BY_ENDPOINT[endpoint],
            "updated_at" if merge else None,
            disposition,
        ),
        (TRANSCRIPTS_TABLE, "conversation_id", TRANSCRIPT_COLUMNS, None, "append"),
        (QUARANTINE_TABLE, "quarantine_id", QUARANTINE_COLUMNS, None, disposition),
    ):
        resource.apply_hints(
            table_name=table,
            write_disposition=table_disposition,
            primary_key=key,
            columns=_columns(spec, dedup),
            create_table_variant=True,
        )
    return resource


@dlt.source(name="kickscale", max_table_nesting=0)
def kickscale_source(
    context: SourceContext,
    plan: dict[str, Sequence[Window]],
    ids: Sequence[str] = (),
) -> list[DltResource]:
    """Resources for each endpoint in `plan` (windows to read), or for the given ids only.

    A `deque` of windows is consumed from the left, up to `context.load_limits` per load: the
    caller runs loads until every deque is empty. Any other sequence is read whole.
    """
    if ids:
        return [_by_id_resource(context, endpoint, ids) for endpoint in api.ENDPOINTS]
    return [_windowed_resource(context, endpoint, windows) for endpoint, windows in plan.items()]


def _windowed_resource(
    context: SourceContext, endpoint: str, windows: Sequence[Window]
) -> DltResource:
    pending = windows if isinstance(windows, deque) else deque(windows)
    limits = context.load_limits if pending is windows else LoadLimits()

    def conversations() -> Iterator[Any]:
        buffer = _TableBuffer()
        taken: list[Window] = []
        nbytes = conversations_taken = 0
        prefetcher = context.prefetcher or Prefetcher(context, [(endpoint, w) for w in pending])
        while pending and not limits.reached(len(taken), nbytes, conversations_taken):
            window = pending.popleft()
            rows = prefetcher.result(endpoint, window)
            taken.append(window)
            nbytes += rows.nbytes
            conversations_taken += rows.counts.get(endpoint, 0)
            if context.on_window:
                context.on_window(endpoint, window, rows)
            yield from buffer.add(rows.tables)
        yield from buffer.flush()
        if taken:
            _advance_progress(dlt.current.resource_state(), taken)

    return _conversation_resource(endpoint, endpoint, conversations, context.merge)


def _by_id_resource(context: SourceContext, endpoint: str, ids: Sequence[str]) -> DltResource:
    def conversations() -> Iterator[Any]:
        now = context.now()
        rows = WindowRows()
        for record_id in ids:
            record = context.client.get_by_id(endpoint, record_id, context.options.expand)
            if record is not None:
                shape_into(rows, record, endpoint, (None, None), now, {})
        rows.freeze(endpoint)
        if context.on_window:
            context.on_window(endpoint, Window(now.replace(year=1970), now), rows)
        yield from _TableBuffer().add(rows.tables, flush=True)

    return _conversation_resource(endpoint, endpoint, conversations, context.merge)


class _TableBuffer:
    """Collects Arrow tables per destination table; hands dlt one big table at a time.

    dlt computes a table's schema for every item it is given, so few big items are cheap; Arrow
    keeps the waiting rows compact.
    """

    def __init__(self) -> None:
        self._parts: dict[str, list[pa.Table]] = {}
        self._rows: dict[str, int] = {}

    def add(self, tables: dict[str, pa.Table], flush: bool = False) -> Iterator[Any]:
        for name, table in tables.items():
            self._parts.setdefault(name, []).append(table)
            self._rows[name] = self._rows.get(name, 0) + table.num_rows
            if self._rows[name] >= ROWS_PER_YIELD:
                yield self._take(name)
        if flush:
            yield from self.flush()

    def flush(self) -> Iterator[Any]:
        for name in list(self._parts):
            yield self._take(name)

    def _take(self, name: str) -> Any:
        parts = self._parts.pop(name)
        self._rows.pop(name)
        table = (
            parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
        )
        return dlt.mark.with_table_name(table, name)


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


def reader_threads(concurrency: int) -> int:
    """Threads that read windows for `concurrency` requests in flight: half as many again.

    A reader spends part of each page off the wire (the page shaped, the window merged); the
    spare ones keep `concurrency` requests going meanwhile, and the client's connection pool
    never lets more than that many out (40k backfill: 18.6-20.0 -> 16.9 s).
    """
    return concurrency + (concurrency + 1) // 2


def completed_until(resource_state: dict[str, Any] | None) -> datetime | None:
    value = (resource_state or {}).get("completed_until")
    return utc(datetime.fromisoformat(value)) if value else None


class Prefetcher:
    """Reads windows ahead of the loads, so the network never waits for dlt.

    Windows start in plan order while fewer than `ahead` (the pool's size) are being read and the
    rows held stay under `budget_bytes`: those fetched but not yet taken, and those of the windows
    being read, at the mean size of their endpoint's windows so far. While dlt loads one batch, the
    pool is already fetching the next, and memory stays bounded however dense the windows are
    (counting only the rows waiting, the windows being read finished past the budget: an 80k
    backfill held 360 MB against a budget of 128). A window asked for is always started.
    Never more than the pool runs: a window queued inside the pool is read whatever the budget
    says by then (with four times as many, an 80k backfill held 180 MiB more).
    """

    def __init__(
        self,
        context: SourceContext,
        plan: Sequence[tuple[str, Window]],
        ahead: int | None = None,
        budget_bytes: int = 0,
    ) -> None:
        self._context = context
        self._queue = deque(plan)
        self._ahead = ahead or context.concurrency
        self._budget = budget_bytes
        self._futures: dict[tuple[str, Window], Future[WindowRows]] = {}
        self._read_bytes: Counter[str] = Counter()  # per endpoint, of the windows read so far
        self._read_windows: Counter[str] = Counter()
        self._lock = threading.RLock()  # a done callback may run at once, in the caller
        self._top_up()

    def result(self, endpoint: str, window: Window) -> WindowRows:
        """The rows of one window, waiting for them if need be."""
        key = (endpoint, window)
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                # The load waits for this window: start it, and the next ones of its endpoint
                # while the pool has room, whatever the read-ahead budget says.
                following = [k for k in self._queue if k[0] == endpoint and k != key]
                for start in [key, *following]:
                    if start is not key and self._reading() >= self._ahead:
                        break
                    if start in self._queue:
                        self._queue.remove(start)
                    started = self._start(start)
                    future = future or started
        try:
            return future.result()
        finally:
            with self._lock:
                self._futures.pop(key, None)
            self._top_up()

    def cancel(self) -> None:
        with self._lock:
            self._queue.clear()
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()

    def _reading(self) -> int:
        return sum(not f.done() for f in self._futures.values())

    def _expected_bytes(self, endpoint: str) -> float:
        """What a window of `endpoint` will hold: the mean of those read so far (0 before any)."""
        windows = self._read_windows[endpoint]
        return self._read_bytes[endpoint] / windows if windows else 0.0

    def _held_bytes(self) -> float:
        """The rows waiting to be taken, and those of the windows being read, as expected."""
        held = 0.0
        for (endpoint, _), future in self._futures.items():
            if not future.done():
                held += self._expected_bytes(endpoint)
            elif not future.cancelled() and future.exception() is None:
                held += future.result().nbytes
        return held

    def _top_up(self) -> None:
        with self._lock:
            while self._queue and self._reading() < self._ahead:
                upcoming = self._expected_bytes(self._queue[0][0])
                if self._budget and self._held_bytes() + upcoming > self._budget:
                    return
                key = self._queue.popleft()
                if key not in self._futures:
                    self._start(key)

    def _start(self, key: tuple[str, Window]) -> Future[WindowRows]:
        endpoint, window = key
        known = self._context.known_hashes.get(endpoint, {})
        future = self._context.executor.submit(_read_window, self._context, endpoint, window, known)
        self._futures[key] = future
        future.add_done_callback(functools.partial(self._finished, endpoint))
        return future

    def _finished(self, endpoint: str, future: Future[WindowRows]) -> None:
        """A window was read: its size informs the budget, and it makes room for the next."""
        if not future.cancelled() and future.exception() is None:
            with self._lock:
                self._read_bytes[endpoint] += future.result().nbytes
                self._read_windows[endpoint] += 1
        self._top_up()


def _read_window(
    context: SourceContext, endpoint: str, window: Window, known: dict[str, str]
) -> WindowRows:
    reads = read_window_pages(context, endpoint, window)
    return merge_pages(reads, endpoint, known)


def read_window_pages(
    context: SourceContext, endpoint: str, window: Window
) -> list[list[PageRows]]:
    """Every page of one window, shaped, grouped by read.

    Page-number paging shifts when rows appear or vanish mid-read, so a window whose reported
    total changed while it was read is read again (up to a bound); `merge_pages` merges the
    reads by id. Pages are parsed and shaped on `context.shaper` (a process pool) if there is one.
    """
    reads: list[list[PageRows]] = []
    for _ in range(MAX_WINDOW_REREADS):
        pages: list[PageRows] = []
        stable = True
        for domain in context.options.customer_domains or (None,):
            read = list(_pages(context, endpoint, window, domain))
            stable = stable and len({page.total for page in read}) <= 1
            pages += read
        reads.append(pages)
        if stable:
            break
    return reads


def merge_pages(reads: list[list[PageRows]], endpoint: str, known: dict[str, str]) -> WindowRows:
    """One window's rows from its pages: the last version of each id wins, as a dict would.

    Records without an id count only from the last read (an earlier read saw the same ones).
    Rows whose content hash matches what is loaded already are dropped as unchanged.
    """
    pages = [page.rows for read in reads for page in read]
    last_read_from = len(pages) - len(reads[-1]) if reads else 0  # its pages come last
    winner: dict[str, int] = {}  # id -> index of the last page it appears on
    for index, rows in enumerate(pages):
        for record_id in rows.seen_ids:
            winner[record_id] = index
    parts: dict[str, list[pa.Table]] = {}
    result = WindowRows(seen_ids=list(winner))
    for index, rows in enumerate(pages):
        winning = _last_of_page(rows.tables.get(endpoint), "id", winner, index)
        winning_ids = set(winning.column("id").to_pylist()) if winning is not None else set()
        keep_rows, unchanged = _drop_unchanged(winning, known)
        result.unchanged += unchanged
        kept_ids = winning_ids if unchanged == 0 else set(keep_rows.column("id").to_pylist())
        transcripts = _last_of_page(
            rows.tables.get(TRANSCRIPTS_TABLE), "conversation_id", winner, index, kept_ids
        )
        quarantined = _quarantine_to_keep(
            rows.tables.get(QUARANTINE_TABLE), winner, index, winning_ids, index >= last_read_from
        )
        for name, table in (
            (endpoint, keep_rows),
            (TRANSCRIPTS_TABLE, transcripts),
            (QUARANTINE_TABLE, quarantined),
        ):
            if table is not None and table.num_rows:
                parts.setdefault(name, []).append(table)
        if index >= last_read_from and not rows.complete:
            result.complete = False
    for name, tables in parts.items():
        table = pa.concat_tables(tables, promote_options="permissive")
        result.tables[name] = table
        result.counts[name] = table.num_rows
    return result


def _drop_unchanged(table: pa.Table | None, known: dict[str, str]) -> tuple[pa.Table | None, int]:
    """The rows whose content hash differs from the loaded one, and how many did not."""
    if table is None or not known:
        return table, 0
    ids, hashes = table.column("id").to_pylist(), table.column("content_hash").to_pylist()
    changed = [known.get(i) != h for i, h in zip(ids, hashes, strict=True)]
    return table.filter(pa.array(changed, pa.bool_())), changed.count(False)


def _last_of_page(
    table: pa.Table | None,
    key: str,
    winner: dict[str, int],
    index: int,
    only: set[str] | None = None,
) -> pa.Table | None:
    """The rows of page `index` that hold the last version of their id (among `only` if given)."""
    if table is None:
        return None
    keys = table.column(key).to_pylist()
    seen: set[str] = set()
    keep = [False] * len(keys)
    for position in range(len(keys) - 1, -1, -1):  # the last occurrence on the page wins
        value = keys[position]
        if value in seen or winner.get(value) != index or (only is not None and value not in only):
            continue
        seen.add(value)
        keep[position] = True
    return table if all(keep) else table.filter(pa.array(keep, pa.bool_()))


def _quarantine_to_keep(
    table: pa.Table | None,
    winner: dict[str, int],
    index: int,
    row_ids: set[str],
    in_last_read: bool,
) -> pa.Table | None:
    if table is None:
        return None
    keep = []
    for record_id in table.column("record_id").to_pylist():
        if record_id is None:
            keep.append(in_last_read)  # no id to merge by: the last read's count
        else:
            keep.append(winner.get(record_id) == index and record_id not in row_ids)
    return table.filter(pa.array(keep, pa.bool_()))


def _pages(
    context: SourceContext, endpoint: str, window: Window, domain: str | None
) -> Iterator[PageRows]:
    client, options = context.client, context.options
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
    parse = functools.partial(
        _shape_page_on,
        context.shaper,
        endpoint=endpoint,
        window=(window.start, window.end),
        now=context.now(),
    )
    page = api.FIRST_PAGE
    while True:
        shaped = client.fetch_page(endpoint, {**params, api.PAGE_PARAM: page}, parse)
        client.stats.record(page=True)
        yield shaped
        total = shaped.total
        if shaped.records < size or (isinstance(total, int) and (page + 1) * size >= total):
            return
        page += 1


def _shape_page_on(
    shaper: Executor | None,
    body: bytes,
    *,
    endpoint: str,
    window: tuple[datetime, datetime],
    now: datetime,
) -> PageRows:
    """Shape a page in the worker process when there is one, else right here."""
    if shaper is None:
        return shape_page(body, endpoint, window, now)
    return shaper.submit(shape_page, body, endpoint, window, now).result()
