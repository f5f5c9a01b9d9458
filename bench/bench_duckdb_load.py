"""Loading transcripts into DuckDB: the default row group size against the sync's 2,048 rows.

.venv/bin/python bench/bench_duckdb_load.py [--records 40000] [--rows-per-load 2600] [--threads 1]
    [--transcript-words 4000] [--memory-limit 256MB]

Shapes real sandbox transcripts into Parquet files of `--rows-per-load` rows, then inserts them
into a new DuckDB file a file at a time (one transaction each, as dlt does), both ways, on
`--threads` DuckDB threads (1, as the sync loads; 0: one per core) under `--memory-limit` (the
sync's default). Reports the seconds, the bytes this process wrote (WAL, temp files, database),
the file's size, and how far the process's own (anonymous) memory rose above where it was before
the loads (DuckDB's cache emptied after each load, as in a sync).
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
from kickscale_sync.config import DestinationSettings
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


def transcripts(records: int, words: int, rows_per_load: int, folder: Path) -> list[Path]:
    """Real transcripts from a sandbox, shaped as the sync shapes them, one Parquet file a load.

    Written as dlt writes a sync's load files: row groups of 256 rows (`sync.configure_dlt`).
    """
    half = records // 2
    spec = ["--meetings", str(half), "--calls", str(half), "--start", "2024-12-01"]
    spec += ["--transcript-words", str(words)]
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
    files = []
    for number, offset in enumerate(range(0, table.num_rows, rows_per_load)):
        files.append(folder / f"load_{number:04d}.parquet")
        pq.write_table(table.slice(offset, rows_per_load), files[-1], row_group_size=256)
    return files


def evict_cache(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    con.execute("SET memory_limit = '1MB'")
    con.execute(f"SET memory_limit = '{memory_limit}'")


def load(
    files: list[Path], database: Path, row_group_rows: int | None, threads: int, memory_limit: str
) -> str:
    # As the sync loads: its memory limit and loading settings (one row group buffered, no vacuum).
    config = {"memory_limit": memory_limit, "preserve_insertion_order": False, **LOADING_SETTINGS}
    con = duckdb.connect(config={**config, **({"threads": threads} if threads else {})})
    option = f" (ROW_GROUP_SIZE {row_group_rows})" if row_group_rows else ""
    con.execute(f"ATTACH '{database}' AS db{option}")
    con.execute(f"CREATE TABLE db.t AS SELECT * FROM read_parquet('{files[0]}') LIMIT 0")
    before, started = written_mib(), time.perf_counter()
    label = f"row groups of {row_group_rows:,}" if row_group_rows else "DuckDB's default row groups"
    loaded = 0
    with PeakMemory() as memory:
        try:
            for file in files:  # one transaction a file, as dlt loads
                con.execute(f"INSERT INTO db.t SELECT * FROM read_parquet('{file}')")
                evict_cache(con, memory_limit)  # as the sync does (`Destination.release_cache`)
                loaded += 1
        except duckdb.Error as error:  # out of memory, or a commit that could not allocate
            reason = str(error).splitlines()[0]
            return f"  {label:30s} failed in load {loaded + 1} of {len(files)}: {reason}"
        finally:
            con.close()  # the final checkpoint counts too
    seconds, wrote = time.perf_counter() - started, written_mib() - before
    size = database.stat().st_size / 2**20
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
    parser.add_argument("--transcript-words", type=int, default=4_000, help="per 30 minutes")
    parser.add_argument("--memory-limit", default=DestinationSettings.duckdb_memory_limit)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        files = transcripts(args.records, args.transcript_words, args.rows_per_load, folder)
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        size = sum(f.stat().st_size for f in files) / 2**20
        print(
            f"{rows:,} transcripts ({size:,.0f} MiB of Parquet), loads of {args.rows_per_load:,}, "
            f"{args.threads or 'all'} DuckDB thread(s), memory limit {args.memory_limit}"
        )
        for row_group_rows in (None, LOAD_ROW_GROUP_ROWS):
            database = folder / f"load_{row_group_rows}.duckdb"
            print(load(files, database, row_group_rows, args.threads, args.memory_limit))


if __name__ == "__main__":
    main()
