"""Build the SQL models in `sql/` into the `analytics` schema, then run the data tests.

Each model is a plain SELECT in its own file (`sql/staging/*.sql`, then `sql/marts/*.sql`); the
runner finds the `analytics.<model>` names a file reads, builds the files in dependency order as
tables, and runs every query in `sql/tests/` (a test passes when it returns no rows). Everything
happens in one transaction: when a test fails, readers keep the previous build.

By hand, in the DuckDB CLI:  SET TimeZone = 'UTC'; SET VARIABLE as_of = DATE '2026-03-31';
then run a file's SELECT.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb
import fsspec

from kickscale_sync.config import SQL_DIR, Profile
from kickscale_sync.destinations import CURRENT_KEYS, Destination, is_lock_error, url_prefix

SCHEMA = "analytics"
LAYERS = ("staging", "marts")
SEEDS = {"seed_free_email_domains": "free_email_domains.csv"}
_REFERENCE = re.compile(rf"\b{SCHEMA}\.(\w+)")
MAX_ROWS_SHOWN = 5


class ModelError(RuntimeError):
    """A model failed to build or a data test found rows; the message shows what and where."""


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    sql: str
    depends_on: frozenset[str]


@dataclass
class ModelRun:
    as_of: date
    tables: dict[str, int] = field(default_factory=dict)  # model -> rows
    tests: dict[str, int] = field(default_factory=dict)  # test -> offending rows
    seconds: float = 0.0

    def render(self) -> str:
        marts = ", ".join(
            f"{name} {rows}"
            for name, rows in self.tables.items()
            if not name.startswith(("stg_", "seed_"))
        )
        passed = sum(1 for n in self.tests.values() if n == 0)
        return (
            f"built {len(self.tables)} models as of {self.as_of}: {marts}\n"
            f"{passed}/{len(self.tests)} data tests passed, {self.seconds:.1f}s"
        )


def discover(sql_dir: Path = SQL_DIR) -> list[Model]:
    """The models in dependency order."""
    models = {}
    for layer in LAYERS:
        for path in sorted((sql_dir / layer).glob("*.sql")):
            sql = path.read_text()
            models[path.stem] = Model(
                path.stem, path, sql, frozenset(_REFERENCE.findall(sql)) - {path.stem}
            )
    known = set(models) | set(SEEDS)
    for model in models.values():
        missing = model.depends_on - known
        if missing:
            raise ModelError(
                f"{model.path}: reads {', '.join(f'{SCHEMA}.{m}' for m in sorted(missing))}, which no model builds"
            )
    graph = {name: model.depends_on - set(SEEDS) for name, model in models.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise ModelError(f"the models depend on each other in a cycle: {error.args[1]}") from None
    return [models[name] for name in order]


def build(con: duckdb.DuckDBPyConnection, as_of: date, sql_dir: Path = SQL_DIR) -> ModelRun:
    """Build seeds and models and run the data tests on an open connection, in one transaction."""
    started = time.monotonic()
    run = ModelRun(as_of=as_of)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET VARIABLE as_of = DATE '{as_of.isoformat()}'")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        for table, filename in SEEDS.items():
            seed = sql_dir / "seeds" / filename
            con.execute(
                f"CREATE OR REPLACE TABLE {SCHEMA}.{table} AS "
                "SELECT DISTINCT lower(trim(domain)) AS domain FROM read_csv(?, header = true, all_varchar = true) "
                "WHERE domain IS NOT NULL",
                [str(seed)],
            )
            run.tables[table] = _count(con, table)
        for model in discover(sql_dir):
            try:
                con.execute(
                    f"CREATE OR REPLACE TABLE {SCHEMA}.{model.name} AS\n{_strip(model.sql)}"
                ).fetchall()
            except duckdb.Error as error:
                raise ModelError(
                    f"model {model.path.relative_to(sql_dir.parent)} failed: {_first_line(error)}"
                ) from None
            run.tables[model.name] = _count(con, model.name)
        failures = _run_tests(con, sql_dir, run)
        if failures:
            raise ModelError(
                "data tests failed; the previous build is kept:\n" + "\n".join(failures)
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    run.seconds = time.monotonic() - started
    return run


def run_models(profile: Profile, as_of: date | None = None) -> ModelRun:
    """Build the models over the profile's destination (DuckDB file, or Parquet via views)."""
    as_of = as_of or datetime.now(UTC).date()
    destination = Destination(profile.destination)
    with connect_analytics(destination) as con:
        return build(con, as_of)


def connect_analytics(destination: Destination) -> duckdb.DuckDBPyConnection:
    """A read-write connection where `raw.*` are the loaded tables and `analytics` can be built."""
    if destination.kind == "duckdb":
        if not Path(destination.location).exists():
            raise ModelError(f"no data at {destination.location}: run `kickscale-sync sync` first")
        destination.wait_until_writable()
        try:
            con = duckdb.connect(destination.location)
        except duckdb.Error as error:
            if is_lock_error(error):
                raise destination.locked_error(error) from None
            raise
        _require_raw_tables(con, destination.settings.dataset)
        return con
    path = Path(destination.settings.analytics_database)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Attached under a fixed name: a file called analytics.duckdb would clash with the schema.
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS warehouse").fetchall()
    con.execute("USE warehouse").fetchall()
    fs, root = fsspec.core.url_to_fs(destination.location)
    prefix = url_prefix(fs) if "://" in destination.location else ""
    if prefix:
        con.register_filesystem(fs)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for table in CURRENT_KEYS:
        current = f"{root}/current/{table}.parquet"
        if fs.exists(current):
            con.execute(
                f"CREATE OR REPLACE VIEW raw.{table} AS SELECT * FROM read_parquet('{prefix}{current}')"
            )
    _require_raw_tables(con, "raw")
    return con


def _require_raw_tables(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    if dataset != "raw":
        raise ModelError(f"the models read the `raw` dataset; this destination uses {dataset!r}")
    found = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' "
            "AND table_catalog = current_database()"
        ).fetchall()
    }
    missing = [f"raw.{t}" for t in ("meetings", "calls") if t not in found]
    if missing:
        raise ModelError(f"{', '.join(missing)} not loaded yet: run `kickscale-sync sync` first")


def _run_tests(con: duckdb.DuckDBPyConnection, sql_dir: Path, run: ModelRun) -> list[str]:
    failures = []
    for path in sorted((sql_dir / "tests").glob("*.sql")):
        relation = con.sql(_strip(path.read_text()))
        rows = relation.fetchall()
        run.tests[path.stem] = len(rows)
        if rows:
            shown = "\n".join(
                f"    {dict(zip(relation.columns, row, strict=False))}"
                for row in rows[:MAX_ROWS_SHOWN]
            )
            more = (
                f"\n    ... and {len(rows) - MAX_ROWS_SHOWN} more"
                if len(rows) > MAX_ROWS_SHOWN
                else ""
            )
            failures.append(
                f"  {path.relative_to(sql_dir.parent)}: {len(rows)} offending rows\n{shown}{more}"
            )
    return failures


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {SCHEMA}.{table}").fetchall()[0][0])


def _strip(sql: str) -> str:
    return sql.strip().rstrip(";")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]
