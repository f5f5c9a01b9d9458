"""The DuckDB destination as the sync holds it: bounded cache, load-sized row groups, the lock."""

from __future__ import annotations

from pathlib import Path

import dlt
import duckdb
import pytest
from kickscale_sync.config import DestinationSettings, SyncSettings
from kickscale_sync.destinations import LOAD_ROW_GROUP_ROWS, Destination, DestinationLocked


def test_dlt_loads_duckdb_with_the_bounded_cache_one_thread_and_small_row_groups(
    tmp_path: Path,
) -> None:
    destination = Destination(DestinationSettings(path=str(tmp_path / "w.duckdb")))
    rows = [{"id": str(i), "text": "x" * 100} for i in range(3 * LOAD_ROW_GROUP_ROWS)]
    with destination.writing():
        pipeline = dlt.pipeline(
            "limits", destination=destination.dlt_destination(), pipelines_dir=str(tmp_path / "dlt")
        )
        pipeline.run(rows, table_name="wide", dataset_name="raw")
        with pipeline.sql_client() as client:
            settings = client.execute_sql(
                "SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order'), "
                "current_setting('threads')"
            )
    assert settings == [("488.2 MiB", False, 1)]  # DuckDB shows 512 MB in MiB
    # The rows landed in the file itself, in row groups of the load size, not DuckDB's 122,880.
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        groups = con.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('raw.wide')"
        ).fetchall()
    assert groups == [(3,)]


def test_a_default_load_fills_a_row_group() -> None:
    # Fewer conversations than a row group go through DuckDB's WAL and are written twice.
    assert SyncSettings().conversations_per_load >= LOAD_ROW_GROUP_ROWS


@pytest.mark.parametrize("name", ["memory", "main", "temp", "my data"])
def test_any_file_name_can_be_held(tmp_path: Path, name: str) -> None:
    destination = Destination(DestinationSettings(path=str(tmp_path / f"{name}.duckdb")))
    with destination.writing(), destination._connect() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS one")
    with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as con:
        assert con.execute("SELECT one FROM t").fetchall() == [(1,)]


def test_release_cache_evicts_and_keeps_the_limit(tmp_path: Path) -> None:
    destination = Destination(DestinationSettings(path=str(tmp_path / "w.duckdb")))
    with destination.writing():
        writer = destination._writer
        assert writer is not None
        writer.execute(
            "CREATE TABLE t AS SELECT range::VARCHAR || repeat('x', 200) AS s FROM range(1000000)"
        )
        writer.execute("SELECT count(*) FROM t WHERE s LIKE '%9x%'").fetchall()
        cached = "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
        before = writer.execute(cached).fetchall()[0][0]
        destination.release_cache()
        after = writer.execute(cached).fetchall()[0][0]
        limit = writer.execute("SELECT current_setting('memory_limit')").fetchall()
    assert before > 16 * 2**20 and after < before / 4, (before, after)
    assert limit == [("488.2 MiB",)]


def test_a_file_held_by_another_process_is_refused_after_the_wait(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
            "print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        destination = Destination(DestinationSettings(path=str(path), lock_timeout_seconds=0.5))
        with (
            pytest.raises(DestinationLocked, match="locked by another process"),
            destination.writing(),
        ):
            pass
    finally:
        holder.communicate("")


def _row_groups(path: Path, table: str) -> tuple[int, int]:
    """Row groups of a table in the file, and the rows they store (deleted ones included)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            f"SELECT count(DISTINCT row_group_id), sum(count) FILTER (WHERE column_id = 0 "
            f"AND segment_type <> 'VALIDITY') FROM pragma_storage_info('{table}')"
        ).fetchall()[0]


def test_appends_keep_their_row_groups_and_replaced_rows_are_vacuumed(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    destination = Destination(DestinationSettings(path=str(path)))
    rows = LOAD_ROW_GROUP_ROWS + 52  # a full row group and a partial one per insert
    with destination.writing(), destination._connect() as con:
        con.execute("CREATE TABLE t (id BIGINT, s VARCHAR)")
        for load in range(2):
            con.execute(f"INSERT INTO t SELECT range + {load * rows}, 'x' FROM range({rows})")
        destination.compact_on_close = False  # the sync only appended
    # Nothing rewritten at the final checkpoint: the loads' row groups stay as they were written.
    assert _row_groups(path, "t") == (4, 2 * rows)
    with destination.writing(), destination._connect() as con:
        con.execute("DELETE FROM t WHERE id % 2 = 0")  # rows replaced by a later version
    # Replaced rows are vacuumed away, so re-synced transcripts do not pile up in the file.
    groups, stored = _row_groups(path, "t")
    assert stored == rows and groups < 4
