"""Models, data tests and exports over 1,000,000 conversations synthesised into the raw tables.

.venv/bin/python bench/bench_models.py [--conversations 1000000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
from kickscale_sync.export import export_marts
from kickscale_sync.models import build

COLUMNS = """
    id VARCHAR, name VARCHAR, date TIMESTAMPTZ, duration BIGINT, language VARCHAR, outcome VARCHAR,
    rating DOUBLE, {direction} user__id VARCHAR, user__email VARCHAR,
    metrics__speak_ratio DOUBLE, metrics__questions BIGINT, metrics__longest_monologue DOUBLE,
    metrics__patience DOUBLE, metrics__words_per_minute DOUBLE,
    action_items JSON, comments JSON, crm_reference__id VARCHAR, customer_domains JSON,
    participants JSON, updated_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ, _dlt_load_id VARCHAR
"""


def synthesise(con: duckdb.DuckDBPyConnection, table: str, rows: int, calls: bool) -> None:
    """Deterministic rows: 200 domains with a long tail, 15% internal, 8% with two domains."""
    direction = "CASE WHEN i % 3 = 0 THEN 'inbound' ELSE 'outbound' END," if calls else ""
    con.execute(
        f"CREATE TABLE raw.{table} ({COLUMNS.format(direction='direction VARCHAR,' if calls else '')})"
    )
    con.execute(f"""
        INSERT INTO raw.{table}
        SELECT
            '{table[0]}' || i, 'conversation ' || i,
            TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds((hash(i) % (730 * 86400))::BIGINT),
            60 + hash(i, 1) % 3600, 'en', CASE WHEN i % 5 = 0 THEN 'won' END,
            CASE WHEN i % 4 = 0 THEN 1 + hash(i, 2) % 5 END, {direction}
            'u' || (i % 12), 'user' || (i % 12) || '@us.com',
            (hash(i, 3) % 1000) / 1000.0, hash(i, 4) % 20, hash(i, 5) % 300, 1.0, 140.0,
            CASE WHEN i % 2 = 0 THEN '[{{"text":"follow up"}}]' ELSE '[]' END, '[]',
            CASE WHEN i % 3 = 0 THEN 'crm' || i END,
            CASE
                WHEN i % 100 < 15 THEN '[]'
                WHEN i % 100 < 23 THEN '["d' || (hash(i, 6) % 200) || '.com","d' || (hash(i, 7) % 200) || '.com"]'
                WHEN i % 100 < 26 THEN '["gmail.com"]'
                ELSE '["d' || floor(200 * pow((hash(i, 8) % 1000) / 1000.0, 3))::INT || '.com"]'
            END,
            '[{{"name":"U","email":"user' || (i % 12) || '@us.com","isInternal":true}},'
            || '{{"name":"C","email":"c' || (i % 5000) || '@d' || (hash(i, 8) % 200) || '.com","isInternal":false}}]',
            now(), CASE WHEN i % 200 = 0 THEN now() END, '1'
        FROM range({rows}) AS t(i)
    """)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        con = duckdb.connect(str(Path(work) / "w.duckdb"))
        con.execute("CREATE SCHEMA raw")
        started = time.perf_counter()
        synthesise(con, "meetings", args.conversations // 2, calls=False)
        synthesise(con, "calls", args.conversations // 2, calls=True)
        synthesised = time.perf_counter() - started
        started = time.perf_counter()
        run = build(con, date(2026, 1, 1))
        built = time.perf_counter() - started
        started = time.perf_counter()
        exported = export_marts(con, Path(work) / "exports")
        export_seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.conversations:,} conversations synthesised in {synthesised:.1f}s (not counted)")
    print(
        f"models + {len(run.tests)} data tests: {built:.1f}s; exports: {export_seconds:.1f}s; total {built + export_seconds:.1f}s"
    )
    print(f"rows: {', '.join(f'{k} {v:,}' for k, v in exported.tables.items())}")
    print(f"peak memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
