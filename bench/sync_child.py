"""One measured run in a child process, so its peak memory is its own. Prints one JSON line.

python sync_child.py ours URL WORKDIR CONCURRENCY WINDOW_DAYS END [START]
python sync_child.py rest_api URL WORKDIR
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kickscale_sync.config import DestinationSettings

os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
EXPAND = "user_client_augmentation,meeting_transcript"


class TreeMemory:
    """Samples the resident memory of this process plus its children, keeping the peak."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in _tree(os.getpid())))


def _tree(pid: int) -> list[int]:
    return [pid, *(p for child in _children(pid) for p in _tree(child))]


def _children(pid: int) -> list[int]:
    """Children of every thread: the shaping worker is started by a reader thread, not the main
    one, and `/proc/PID/task/PID/children` lists only the main thread's."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended meanwhile
    return children


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def ours(
    url: str, workdir: str, concurrency: str, window_days: str, end: str, start: str = "2024-12-01"
) -> dict:
    from kickscale_sync.config import Profile, SyncSettings
    from kickscale_sync.sync import SyncRequest, run_sync
    from kickscale_sync.windows import parse_instant

    os.environ.update(
        SOURCES__KICKSCALE__API_KEY="sandbox-api-key",
        SOURCES__KICKSCALE__CLIENT_ID="sandbox-client",
        SOURCES__KICKSCALE__BASE_URL=url,
    )
    profile = Profile(
        name="bench",
        sync=SyncSettings(
            backfill_start=parse_instant(start),
            window_days=float(window_days),
            concurrency=int(concurrency),
            requests_per_second=0,
            windows_per_load=int(
                os.environ.get("BENCH_WINDOWS_PER_LOAD", SyncSettings.windows_per_load)
            ),
            conversations_per_load=int(
                os.environ.get("BENCH_CONVERSATIONS_PER_LOAD", SyncSettings.conversations_per_load)
            ),
            load_mb=float(os.environ.get("BENCH_LOAD_MB", SyncSettings.load_mb)),
            read_ahead_mb=float(os.environ.get("BENCH_READ_AHEAD_MB", SyncSettings.read_ahead_mb)),
            shaping_processes=int(
                os.environ.get("BENCH_SHAPING_PROCESSES", SyncSettings.shaping_processes)
            ),
            transcripts=os.environ.get("BENCH_TRANSCRIPTS", "1") == "1",
        ),
        destination=bench_destination(workdir),
    )
    full_refresh = os.environ.get("BENCH_FULL_REFRESH") == "1"
    summary = run_sync(
        SyncRequest(
            profile=profile,
            end=parse_instant(end),
            now=parse_instant(end),
            full_refresh=full_refresh,
        )
    )
    return {
        **summary.as_dict(),
        "records": summary.rows["meetings"] + summary.rows["calls"],
        "full_refresh": full_refresh,
    }


def bench_destination(workdir: str) -> DestinationSettings:
    from kickscale_sync.config import DestinationSettings

    kind = os.environ.get("BENCH_DESTINATION", "duckdb")
    return DestinationSettings(
        kind=kind,
        path=f"{workdir}/ours.duckdb" if kind == "duckdb" else f"{workdir}/lake",
        working_dir=f"{workdir}/dlt",
        duckdb_memory_limit=os.environ.get(
            "BENCH_DUCKDB_MEMORY", DestinationSettings.duckdb_memory_limit
        ),
        duckdb_threads=int(
            os.environ.get("BENCH_DUCKDB_THREADS", DestinationSettings.duckdb_threads)
        ),
    )


def loaded_rows(settings: DestinationSettings) -> dict[str, list[int]]:
    """[rows, distinct keys, rows marked deleted] of each table as analysts read it, to check
    that the run loaded every conversation exactly once."""
    import duckdb
    import pyarrow.compute as pc
    from kickscale_sync.destinations import Destination

    tables = {"meetings": "id", "calls": "id", "transcripts": "conversation_id"}
    if settings.kind == "duckdb":
        with duckdb.connect(settings.path, read_only=True) as con:
            present = {
                name
                for (name,) in con.execute(
                    "select table_name from information_schema.tables where table_schema = ?",
                    [settings.dataset],
                ).fetchall()
            }
            marked = {"id": "deleted_at", "conversation_id": "null"}  # transcripts are not marked
            return {
                table: list(
                    con.execute(
                        f"select count(*), count(distinct {key}), count({marked[key]}) "
                        f"from {settings.dataset}.{table}"
                    ).fetchone()
                )
                if table in present
                else [0, 0, 0]  # a sync without transcripts has no transcripts table
                for table, key in tables.items()
            }
    counts = {}
    for table, key in tables.items():
        columns = [key, "deleted_at"] if key == "id" else [key]
        current = Destination(settings).read_current(table, columns)
        if current is None:
            counts[table] = [0, 0, 0]
            continue
        deleted = current.num_rows - current.column("deleted_at").null_count if key == "id" else 0
        counts[table] = [current.num_rows, pc.count_distinct(current.column(key)).as_py(), deleted]
    return counts


def rest_api(url: str, workdir: str) -> dict:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": url,
                "headers": {"api-key": "sandbox-api-key", "client-id": "sandbox-client"},
                "paginator": {
                    "type": "page_number",
                    "base_page": 0,
                    "page_param": "page",
                    "total_path": None,
                    "stop_after_empty_page": True,
                },
            },
            "resource_defaults": {
                "primary_key": "id",
                "write_disposition": "merge",
                "max_table_nesting": 0,
                "endpoint": {
                    "data_selector": "data",
                    "params": {
                        "pageSize": 100,
                        "sortingOrder": "ascending",
                        "scopes": "internal,external",
                        "expand": EXPAND,
                    },
                },
            },
            "resources": ["meetings", "calls"],
        }
    )
    pipeline = dlt.pipeline(
        "rest_api_bench",
        destination=dlt.destinations.duckdb(f"{workdir}/rest_api.duckdb"),
        dataset_name="raw",
        pipelines_dir=f"{workdir}/dlt_rest",
    )
    started = time.perf_counter()
    info = pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return {
        "seconds": round(seconds, 2),
        "records": counts.get("meetings", 0) + counts.get("calls", 0),
        "loads": len(info.loads_ids),
    }


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    Path(rest[1]).mkdir(parents=True, exist_ok=True)
    sampler = TreeMemory()
    result = ours(*rest) if mode == "ours" else rest_api(*rest)
    # The shaping worker is a child process: what counts is this process and its children
    # together, sampled while they run. (A child's own ru_maxrss is no use here: it starts as a
    # fork of this process and inherits its resident size until it execs.)
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["peak_rss_mb"] = round(max(sampler.stop(), own_peak), 1)
    result["peak_rss_sync_mb"] = round(own_peak, 1)  # the sync process alone, without the worker
    if mode == "ours":  # after the measured run: counting is not part of it
        result["loaded"] = loaded_rows(bench_destination(rest[1]))
    print(json.dumps(result))
