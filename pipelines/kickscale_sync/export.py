"""Parquet (and optionally CSV) exports of the marts for BI tools.

One folder per table; the large ones are Hive-partitioned by month of `started_at`
(`conversations/started_month=2026-03/...parquet`). Each table is written to a hidden folder and
renamed into place, so a reader sees the previous export or the new one, never half of one.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from kickscale_sync.config import Profile
from kickscale_sync.destinations import Destination
from kickscale_sync.models import SCHEMA, ModelError, connect_analytics

# table -> partitioned by month of started_at?
EXPORTS = {
    "conversations": True,
    "conversation_domains": True,
    "domain_summary": False,
    "domain_activity_weekly": False,
    "user_domain_coverage": False,
}
PARTITION_COLUMN = "started_month"


@dataclass
class ExportRun:
    folder: Path
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def render(self) -> str:
        tables = ", ".join(f"{name} {rows}" for name, rows in self.tables.items())
        return f"exported to {self.folder}: {tables} ({self.seconds:.1f}s)"


def export_marts(con: duckdb.DuckDBPyConnection, folder: Path, csv: bool = False) -> ExportRun:
    """Write every mart as Parquet under `folder` (and as `<table>.csv` beside it if asked)."""
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    run = ExportRun(folder=folder)
    for table, partitioned in EXPORTS.items():
        if not _exists(con, table):
            raise ModelError(f"{SCHEMA}.{table} does not exist: run `kickscale-sync models` first")
        staging = folder / f".{table}.{uuid.uuid4().hex}.tmp"
        try:
            if partitioned:
                con.execute(
                    f"COPY (SELECT *, strftime(started_at, '%Y-%m') AS {PARTITION_COLUMN} FROM {SCHEMA}.{table}) "
                    f"TO '{staging}' (FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}))"
                ).fetchall()
                staging.mkdir(exist_ok=True)  # an empty table writes no partition
            else:
                staging.mkdir()
                con.execute(
                    f"COPY {SCHEMA}.{table} TO '{staging / 'data.parquet'}' (FORMAT parquet)"
                ).fetchall()
            _swap_into_place(staging, folder / table)
            if csv:
                temporary = folder / f".{table}.{uuid.uuid4().hex}.csv"
                con.execute(f"COPY {SCHEMA}.{table} TO '{temporary}' (HEADER)").fetchall()
                temporary.replace(folder / f"{table}.csv")
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        run.tables[table] = int(
            con.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchall()[0][0]
        )
    run.seconds = time.monotonic() - started
    return run


def run_export(profile: Profile, csv: bool = False) -> ExportRun:
    folder = Path(profile.export_path)
    with connect_analytics(Destination(profile.destination)) as con:
        return export_marts(con, folder if folder.is_absolute() else Path.cwd() / folder, csv=csv)


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` with renames only: readers never see a partial folder."""
    retired = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    if retired.exists():
        shutil.rmtree(retired)


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [SCHEMA, table],
        ).fetchall()
    )
