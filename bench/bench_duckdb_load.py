"""Loading transcripts into DuckDB: the default row group size against the sync's 2,048 rows.

.venv/bin/python bench/bench_duckdb_load.py [--records 40000] [--rows-per-load 2600] [--threads 1]

Shapes real sandbox transcripts into one Parquet file, then inserts them into a new DuckDB file
in loads of `--rows-per-load` rows (one transaction each, as dlt does), both ways, on `--threads`
DuckDB threads (1, as the sync loads; 0: one per core), and reports the seconds, the bytes this
process wrote (WAL, temp files, database), the file's size, and how far the process's own
(anonymous) memory rose above where it was before the loads (DuckDB's cache emptied after each
load, as in a sync).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from common import sandbox_process
from kickscale_sync.destinations import LOAD_ROW_GROUP_ROWS, LOADING_SETTINGS
from kickscale_sync.records import TRANSCRIPTS_TABLE, shape_page


def written_mib() -> float:
    with open("/proc/self/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["wchar"]) / 2**20


def anonymous_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """The highest anonymous memory of this process while the block runs, sampled every 5 ms."""

    def __enter__(self) -> PeakMemory:
        self.before = self.peak = anonymous_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, anonymous_mib())


def transcripts(records: int, path: Path) -> int:
    """Real transcripts from a sandbox, shaped as the sync shapes them, into one Parquet file."""
    half = records // 2
    spec = ["--meetings", str(half), "--calls", str(half), "--start", "2024-12-01"]
    now = datetime.now(UTC)
    tables = []
    with (
        sandbox_process(*spec, "--end", "2026-12-01") as (url, _),
        httpx.Client(
            base_url=url,
            headers={"api-key": "sandbox-api-key", "client-id": "sandbox-client"},
            timeout=60,
        ) as client,
    ):
        for endpoint in ("meetings", "calls"):
            for page in range(half // 100):
                params = {
                    "pageSize": 100,
                    "page": page,
                    "sortingOrder": "ascending",
                    "scopes": "internal,external",
                    "expand": "user_client_augmentation,meeting_transcript",
                }
                body = client.get(f"/{endpoint}", params=params).content
                shaped = shape_page(body, endpoint, (now, now), now)
                if TRANSCRIPTS_TABLE not in shaped.rows.tables:
                    break  # past the last page
                tables.append(shaped.rows.tables[TRANSCRIPTS_TABLE])
    table = pa.concat_tables(tables)
    pq.write_table(table, path, row_group_size=1000)
    return table.num_rows


def evict_cache(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET memory_limit = '1MB'")
    con.execute("SET memory_limit = '512MB'")


def load(
    source: Path, database: Path, rows_per_load: int, row_group_rows: int | None, threads: int
) -> str:
    # As the sync loads: its memory limit and loading settings (one row group buffered, no vacuum).
    config = {"memory_limit": "512MB", "preserve_insertion_order": False, **LOADING_SETTINGS}
    con = duckdb.connect(config={**config, **({"threads": threads} if threads else {})})
    option = f" (ROW_GROUP_SIZE {row_group_rows})" if row_group_rows else ""
    con.execute(f"ATTACH '{database}' AS db{option}")
    con.execute(f"CREATE TABLE db.t AS SELECT * FROM read_parquet('{source}') LIMIT 0")
    total = con.execute(f"SELECT count(*) FROM read_parquet('{source}')").fetchall()[0][0]
    before, started = written_mib(), time.perf_counter()
    with PeakMemory() as memory:
        for offset in range(0, total, rows_per_load):
            con.execute(
                f"INSERT INTO db.t SELECT * FROM read_parquet('{source}') "
                f"LIMIT {rows_per_load} OFFSET {offset}"
            )
            evict_cache(con)  # as the sync does after each load (`Destination.release_cache`)
        con.close()  # the final checkpoint counts too
    seconds, wrote = time.perf_counter() - started, written_mib() - before
    size = database.stat().st_size / 2**20
    label = f"row groups of {row_group_rows:,}" if row_group_rows else "DuckDB's default row groups"
    rise = memory.peak - memory.before
    return (
        f"  {label:30s} {seconds:5.1f} s, wrote {wrote:6,.0f} MiB, file {size:,.0f} MiB, "
        f"memory +{rise:,.0f} MiB at the peak"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--rows-per-load", type=int, default=2_600, help="about one 64 MB load")
    parser.add_argument("--threads", type=int, default=1, help="DuckDB's; 0: one per core")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "transcripts.parquet"
        rows = transcripts(args.records, source)
        size = source.stat().st_size / 2**20
        print(
            f"{rows:,} transcripts ({size:,.0f} MiB of Parquet), loads of {args.rows_per_load:,}, "
            f"{args.threads or 'all'} DuckDB thread(s)"
        )
        for row_group_rows in (None, LOAD_ROW_GROUP_ROWS):
            database = Path(folder) / f"load_{row_group_rows}.duckdb"
            print(load(source, database, args.rows_per_load, row_group_rows, args.threads))


if __name__ == "__main__":
    main()
