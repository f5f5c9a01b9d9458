"""Exports for BI tools, and the models over synced data from both destinations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest
from kickscale_sync.export import EXPORTS, export_marts, run_export
from kickscale_sync.models import ModelError, run_models
from kickscale_sync.sync import SyncRequest, run_sync

from .conftest import HISTORY_END


def test_exports_are_readable_with_types_intact(warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    run = export_marts(warehouse, folder, csv=True)
    assert set(run.tables) == set(EXPORTS)
    months = sorted(p.name for p in (folder / "conversations").iterdir())
    assert months == [
        "started_month=2026-01",
        "started_month=2026-02",
        "started_month=2026-03",
        "started_month=2026-04",
    ]
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT conversation_id, started_at, duration_s, customer_domains, started_month "
            f"FROM read_parquet('{folder}/conversations/**/*.parquet', hive_partitioning = true) ORDER BY conversation_id"
        ).fetchall()
    assert len(rows) == 7 and rows[0][0] == "c1" and rows[0][4] == "2026-03"
    assert str(rows[0][1].tzinfo) in ("UTC", "Etc/UTC") and rows[0][3] == ["acme.com"]
    frame = pd.read_parquet(folder / "domain_summary")
    assert set(frame["customer_domain"]) == {"acme.com", "globex.io"}
    assert str(frame["days_since_last_contact"].dtype).startswith("int")
    table = ds.dataset(folder / "conversations", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 7 and str(table.schema.field("started_at").type).startswith(
        "timestamp"
    )
    assert str(table.schema.field("customer_domains").type) == "list<element: string>"
    assert (folder / "domain_summary.csv").read_text().startswith("customer_domain,")
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_a_failed_export_keeps_the_previous_one(warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    export_marts(warehouse, folder)
    before = sorted(p.name for p in (folder / "domain_summary").iterdir())
    warehouse.execute("DROP TABLE analytics.user_domain_coverage")
    with pytest.raises(ModelError, match="user_domain_coverage"):
        export_marts(warehouse, folder)
    assert sorted(p.name for p in (folder / "domain_summary").iterdir()) == before
    assert pd.read_parquet(folder / "user_domain_coverage").shape[0] == 4


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_models_and_exports_over_a_synced_workspace(
    sandbox, profile_for, tmp_path: Path, kind: str
) -> None:
    profile = profile_for(sandbox, kind=kind).with_destination(
        analytics_database=str(tmp_path / "analytics.duckdb")
    )
    run_sync(SyncRequest(profile=profile, now=HISTORY_END))
    run = run_models(profile, as_of=date(2026, 1, 1))
    assert run.tests and all(n == 0 for n in run.tests.values())
    assert run.tables["conversations"] > 500 and run.tables["domain_summary"] >= 20
    exported = run_export(profile)
    assert exported.tables["conversations"] == run.tables["conversations"]
    assert (tmp_path / "exports" / "conversations").is_dir()
