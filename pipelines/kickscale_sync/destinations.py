"""Where the data lands: a DuckDB file (the default) or Parquet files in a folder or fsspec URL.

Both give analysts exactly one current row per id. DuckDB merges in place. dlt's filesystem
destination cannot merge plain Parquet (it appends every version), so after each sync the
Parquet destination publishes `current/<table>.parquet`: the newest version of every row, with
deletions applied, written to a temporary name and renamed into place.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import dlt
import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from kickscale_sync.config import DestinationSettings
from kickscale_sync.records import TRANSCRIPTS_TABLE

T = TypeVar("T")
_RESERVED_CATALOGS = frozenset({"memory", "system", "temp", "main"})
CONVERSATION_TABLES = ("meetings", "calls")
DELETIONS_TABLE = "deletions"
# Tables published for the Parquet destination, with the key of one current row.
CURRENT_KEYS = {
    "meetings": "id",
    "calls": "id",
    TRANSCRIPTS_TABLE: "conversation_id",
    "quarantine": "quarantine_id",
}


# Rows per DuckDB row group while loading (DuckDB's default is 122,880). DuckDB writes an insert
# of at least one full row group straight into the file, compressed; a smaller one goes through
# the WAL uncompressed and is rewritten at checkpoint. A load holds a few thousand conversations,
# so with the default every transcript went to the WAL first: 40k of them in loads of 2,600 took
# 6.0 s and 1,133 MiB of writes, against 3.4 s and 109 MiB here (`bench/bench_duckdb_load.py`).
LOAD_ROW_GROUP_ROWS = 2048
# Parquet's current/ files: a row group closes at this size (needs preserve_insertion_order off).
PUBLISH_ROW_GROUP_BYTES = "16MB"
# While loading: DuckDB buffers five row groups of an insert before writing them by default
# (~130 MB each of 2,048 transcripts); one at a time bounds its memory for wide rows. And no
# vacuum at checkpoint: it merges every load's partial last row group with its neighbours,
# rewriting the table (40k backfill: 35.1 -> 32.7 s, 1,016 -> 782 MiB, file 295 -> 187 MB).
# `writing` turns vacuum back on for the final checkpoint when the sync replaced rows.
LOADING_SETTINGS: dict[str, Any] = {"write_buffer_row_group_count": 1, "max_vacuum_tasks": 0}


class DestinationLocked(RuntimeError):
    """Another process holds the DuckDB file."""


@dataclass
class Destination:
    settings: DestinationSettings
    # The DuckDB file held open for a sync (see `writing`): everything here goes through it then.
    _writer: duckdb.DuckDBPyConnection | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # Set by the sync when it replaced or deleted rows: the final checkpoint then vacuums them.
    compact_on_close: bool = field(default=True, init=False, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.settings.kind

    @property
    def can_merge(self) -> bool:
        return self.kind == "duckdb"

    @property
    def location(self) -> str:
        """The DuckDB file path, or the Parquet folder / URL, resolved against the project."""
        path = self.settings.path
        if "://" in path or Path(path).is_absolute():
            return path
        return str(Path.cwd() / path)

    def dlt_destination(self) -> Any:
        """dlt's destination. For DuckDB it loads through the connection `writing` holds open."""
        if self.kind == "duckdb":
            if self._writer is None:
                raise RuntimeError("open the DuckDB file with `Destination.writing()` first")
            credentials = DuckDbCredentials(self._writer)
            # dlt hands each thread a duplicate of the connection, which starts in DuckDB's
            # in-memory catalog: point each one at the file.
            credentials.local_config = {"schema": f"{_quoted(self._catalog)}.main"}
            return dlt.destinations.duckdb(credentials=credentials)
        return dlt.destinations.filesystem(bucket_url=self.location)

    @contextmanager
    def writing(self) -> Iterator[Destination]:
        """Hold the DuckDB file open for one sync: dlt loads and this class reads through it.

        DuckDB takes load options such as the row group size only when a file is attached, so
        the file is attached to an in-memory database rather than opened directly. A file that
        another process holds is waited for (bounded), then refused with a clear message.
        Nothing to hold for Parquet.
        """
        if self.kind != "duckdb":
            yield self
            return
        Path(self.location).parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._with_lock_wait(self._attach_for_loading)
        self.compact_on_close = True
        try:
            yield self
        finally:
            writer, self._writer = self._writer, None
            if self.compact_on_close:
                with suppress(duckdb.Error):  # after a failed load: a later checkpoint vacuums
                    writer.execute("RESET max_vacuum_tasks")
            writer.close()  # DuckDB checkpoints the file as it closes

    def _duckdb_config(self) -> dict[str, Any]:
        # DuckDB takes most of the machine's memory by default; a merge of wide text columns
        # then peaks at gigabytes. Bounded, it spills to disk instead.
        config: dict[str, Any] = {"preserve_insertion_order": False}
        if self.settings.duckdb_memory_limit:
            config["memory_limit"] = self.settings.duckdb_memory_limit
        if self.settings.duckdb_threads:
            config["threads"] = self.settings.duckdb_threads
        return config

    def _attach_for_loading(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={**self._duckdb_config(), **LOADING_SETTINGS})
        try:
            con.execute(
                f"ATTACH {_literal(self.location)} AS {_quoted(self._catalog)} "
                f"(ROW_GROUP_SIZE {LOAD_ROW_GROUP_ROWS})"
            )
            con.execute(f"USE {_quoted(self._catalog)}")
        except BaseException:
            con.close()
            raise
        return con

    @property
    def _catalog(self) -> str:
        # The name DuckDB gives the file when it is opened directly, unless DuckDB reserves it.
        stem = Path(self.location).stem
        return "warehouse" if stem.lower() in _RESERVED_CATALOGS else stem

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the DuckDB file: a cursor of the held one during a sync."""
        if self._writer is None:
            with duckdb.connect(self.location, read_only=read_only) as con:
                yield con
            return
        with self._writer.cursor() as cursor:
            cursor.execute(f"USE {_quoted(self._catalog)}")
            yield cursor

    # ------------------------------------------------------------------------ DuckDB lock
    def wait_until_writable(self) -> None:
        """Wait (bounded) for other processes to release the DuckDB file, then fail clearly."""
        if self.kind != "duckdb" or not Path(self.location).exists():
            return
        self._with_lock_wait(lambda: duckdb.connect(self.location).close())

    def _with_lock_wait(self, open_file: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(is_lock_error),
            stop=stop_after_delay(self.settings.lock_timeout_seconds),
            wait=wait_fixed(0.5),
            reraise=True,
        )
        try:
            return retrying(open_file)
        except duckdb.Error as error:
            if is_lock_error(error):
                raise self.locked_error(error) from None
            raise

    def locked_error(self, error: BaseException) -> DestinationLocked:
        holder = re.search(r"\(PID (\d+)\)", str(error))
        who = f" (process {holder.group(1)})" if holder else ""
        return DestinationLocked(
            f"the DuckDB file {self.location} is locked by another process{who}, still after "
            f"{self.settings.lock_timeout_seconds:g}s: close that connection (a DuckDB CLI, notebook "
            "or BI tool) and run again, or raise destination.lock_timeout_seconds in the profile"
        )

    # ------------------------------------------------------------------ what is loaded now
    def current_hashes(self, table: str, start: datetime, end: datetime) -> dict[str, str]:
        """id -> content_hash of the live rows with date in [start, end)."""
        query = (
            "SELECT id, content_hash FROM {t} WHERE deleted_at IS NULL "
            "AND date >= $start AND date < $end"
        )
        result = self._query(table, query, {"start": start, "end": end})
        return dict(result) if result else {}

    def current_dates(self, table: str, start: datetime, end: datetime) -> dict[str, datetime]:
        """id -> date of the live rows with date in [start, end)."""
        query = (
            "SELECT id, date FROM {t} WHERE deleted_at IS NULL AND date >= $start AND date < $end"
        )
        result = self._query(table, query, {"start": start, "end": end})
        return dict(result) if result else {}

    def _query(self, table: str, query: str, params: dict[str, Any]) -> list[tuple] | None:
        if self.kind == "duckdb":
            if not Path(self.location).exists():
                return None
            with self._connect(read_only=True) as con:
                if not _duckdb_has_table(con, self.settings.dataset, table):
                    return None
                return con.execute(
                    query.format(t=f'"{self.settings.dataset}"."{table}"'), params
                ).fetchall()
        current = self.read_current(table, columns=["id", "content_hash", "date", "deleted_at"])
        if current is None:
            return None
        with duckdb.connect() as con:
            con.register("current_rows", current)
            return con.execute(query.format(t="current_rows"), params).fetchall()

    # ------------------------------------------------------------------------- deletions
    def apply_deletions(self) -> int:
        """DuckDB: set `deleted_at` on rows whose deletion was loaded after their last version."""
        if self.kind != "duckdb":
            return 0  # the Parquet destination applies them when it publishes
        dataset = self.settings.dataset
        changed = 0
        with self._connect() as con:
            if not _duckdb_has_table(con, dataset, DELETIONS_TABLE):
                return 0
            for table in CONVERSATION_TABLES:
                if not _duckdb_has_table(con, dataset, table):
                    continue
                result = con.execute(
                    f"""
                    UPDATE "{dataset}"."{table}" AS t SET deleted_at = d.deleted_at
                    FROM (
                        SELECT id, max(deleted_at) AS deleted_at, max(_dlt_load_id) AS load_id
                        FROM "{dataset}"."{DELETIONS_TABLE}" WHERE endpoint = ? GROUP BY id
                    ) AS d
                    WHERE t.id = d.id AND t.deleted_at IS NULL
                      AND CAST(d.load_id AS DOUBLE) > CAST(t._dlt_load_id AS DOUBLE)
                    """,
                    [table],
                ).fetchall()
                changed += int(result[0][0]) if result else 0
        return changed

    def keep_newest_transcripts(self) -> int:
        """DuckDB: drop transcript rows superseded by a newer version of the same conversation.

        Transcripts are appended (see `source`), so after a load a re-read conversation has two
        rows until this runs. It looks at every conversation with more than one row, so a sync
        killed between the load and this step is put right by the next one.
        """
        if self.kind != "duckdb":
            return 0  # the Parquet destination keeps the newest when it publishes
        table = f'"{self.settings.dataset}"."{TRANSCRIPTS_TABLE}"'
        with self._connect() as con:
            if not _duckdb_has_table(con, self.settings.dataset, TRANSCRIPTS_TABLE):
                return 0
            result = con.execute(
                f"""
                DELETE FROM {table} WHERE rowid IN (
                    SELECT rowid FROM (
                        SELECT rowid, row_number() OVER (
                            PARTITION BY conversation_id
                            ORDER BY CAST(_dlt_load_id AS DOUBLE) DESC, updated_at DESC NULLS LAST,
                                     rowid DESC
                        ) AS newest_first
                        FROM {table}
                        WHERE conversation_id IN (
                            SELECT conversation_id FROM {table}
                            GROUP BY conversation_id HAVING count(*) > 1
                        )
                    ) WHERE newest_first > 1
                )
                """
            ).fetchall()
        return int(result[0][0]) if result else 0

    def release_cache(self) -> None:
        """Drop the blocks DuckDB keeps cached after a load: it holds up to its memory limit.

        The file stays open for the whole sync, so without this the cache only grows (a 40k
        backfill without transcripts: 703 MiB instead of 411). Lowering the limit for a moment
        makes DuckDB evict them (~0.1 s a load).
        """
        if self._writer is None:
            return
        limit = self.settings.duckdb_memory_limit or "80%"  # DuckDB's own default is 80%
        try:
            self._writer.execute("SET memory_limit = '1MB'")
        except duckdb.Error:
            pass  # something is still pinned: it stays cached
        finally:
            self._writer.execute(f"SET memory_limit = {_literal(limit)}")

    # -------------------------------------------------------------------- Parquet publish
    def publish_current(self) -> dict[str, int]:
        """Write `current/<table>.parquet` for each table: one row per key, deletions applied.

        DuckDB streams the loaded files: a narrow pass picks the newest version of each key
        (file and row number), a second copies just those rows out, so memory stays bounded
        however many versions the folder holds.
        """
        if self.kind != "parquet":
            return {}
        fs, root = fsspec.core.url_to_fs(self.location)
        prefix = url_prefix(fs) if "://" in self.location else ""
        loaded = self._completed_loads(fs, root)
        published = {}
        # Bounded like the loads. One thread by default: each holds a row group of wide transcript
        # rows, and two needed more than 512 MB for 40k conversations (one: 3.5 s instead of 1.8 s,
        # 563 MiB in all instead of growing with the folder).
        config = {"threads": 1, **self._duckdb_config()}
        with duckdb.connect(config=config) as con:
            if prefix:
                con.register_filesystem(fs)
            deletions = [prefix + f for f in self._table_files(fs, root, DELETIONS_TABLE, loaded)]
            for table, key in CURRENT_KEYS.items():
                files = [prefix + f for f in self._table_files(fs, root, table, loaded)]
                if not files:
                    continue
                gone = deletions if table in CONVERSATION_TABLES else []
                query = _newest_per_key_sql(files, key, gone)
                final = f"{root}/current/{table}.parquet"
                temporary = f"{root}/current/.{uuid.uuid4().hex}.tmp.parquet"
                fs.makedirs(f"{root}/current", exist_ok=True)
                # Row groups bounded by size: the writer holds a whole group, and transcript rows
                # are wide (2,048 of them needed more than 256 MB at 40k; 16 MB groups fit).
                con.execute(
                    f"COPY ({query}) TO '{prefix}{temporary}' "
                    f"(FORMAT parquet, ROW_GROUP_SIZE_BYTES '{PUBLISH_ROW_GROUP_BYTES}')",
                    [table] if gone else [],
                ).fetchall()
                fs.mv(temporary, final)  # a rename on local disks: readers see old or new
                count = con.execute(
                    f"SELECT count(*) FROM read_parquet('{prefix}{final}')"
                ).fetchall()
                published[table] = int(count[0][0])
        return published

    def read_current(self, table: str, columns: list[str] | None = None) -> pa.Table | None:
        """The published current rows of a table (only `columns`, when given)."""
        fs, root = fsspec.core.url_to_fs(self.location)
        path = f"{root}/current/{table}.parquet"
        if not fs.exists(path):
            return None
        with fs.open(path, "rb") as handle:
            return pq.read_table(handle, columns=columns)

    def _dataset_root(self, root: str) -> str:
        return f"{root}/{self.settings.dataset}"

    def _completed_loads(self, fs: Any, root: str) -> set[str]:
        loads_dir = f"{self._dataset_root(root)}/_dlt_loads"
        if not fs.exists(loads_dir):
            return set()
        # dlt writes one marker per completed load: `<schema>__<load_id>.jsonl`.
        return {_load_id_from_marker(p) for p in fs.ls(loads_dir, detail=False)}

    def _table_files(self, fs: Any, root: str, table: str, loaded: set[str]) -> list[str]:
        """The table's Parquet files of completed loads only (a failed load's files are ignored)."""
        folder = f"{self._dataset_root(root)}/{table}"
        if not fs.exists(folder):
            return []
        return sorted(
            p
            for p in fs.ls(folder, detail=False)
            if p.endswith(".parquet") and _file_load_id(p) in loaded
        )


def url_prefix(fs: Any) -> str:
    """`memory://`, `s3://`, ...: how DuckDB names files on a registered fsspec filesystem."""
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return f"{protocol}://"


def _load_id_from_marker(path: str) -> str:
    return Path(path).name.split("__", 1)[-1].rsplit(".", 1)[0]


def _file_load_id(path: str) -> str:
    name = Path(path).name
    parts = name.split(".")
    return f"{parts[0]}.{parts[1]}" if len(parts) > 2 else parts[0]


def _newest_per_key_sql(files: list[str], key: str, deletions: list[str]) -> str:
    source = (
        f"read_parquet({files!r}, union_by_name = true, filename = true, file_row_number = true)"
    )
    order = "(_dlt_load_id, updated_at)" if key in ("id", "conversation_id") else "_dlt_load_id"
    newest = f"""
        WITH winners AS (
            SELECT max_by(struct_pack(filename, file_row_number), {order}) AS w
            FROM {source} GROUP BY {key}
        )
        SELECT rows.* EXCLUDE (filename, file_row_number)
        FROM {source} AS rows
        SEMI JOIN winners ON rows.filename = winners.w.filename
                         AND rows.file_row_number = winners.w.file_row_number
    """
    if not deletions:
        return newest
    return f"""
        WITH newest AS ({newest}),
        gone AS (
            SELECT id, max(deleted_at) AS deleted_at, max(_dlt_load_id) AS load_id
            FROM read_parquet({deletions!r}, union_by_name = true) WHERE endpoint = ? GROUP BY id
        )
        SELECT newest.* REPLACE (
            CASE WHEN gone.load_id IS NOT NULL
                      AND CAST(gone.load_id AS DOUBLE) > CAST(newest._dlt_load_id AS DOUBLE)
                 THEN gone.deleted_at ELSE newest.deleted_at END AS deleted_at
        )
        FROM newest LEFT JOIN gone USING (id)
    """


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def is_lock_error(error: BaseException) -> bool:
    text = str(error)
    return "lock" in text.lower() and ("Conflicting lock" in text or "Could not set lock" in text)


def _duckdb_has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(found)
