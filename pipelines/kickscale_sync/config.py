"""Profiles (every non-secret setting, in `profiles/*.toml`) and the connection from dlt config.

Secrets never live in a profile: they come from dlt's providers, i.e. the environment
(`SOURCES__KICKSCALE__API_KEY`, `SOURCES__KICKSCALE__CLIENT_ID`) or `.dlt/secrets.toml`.
`SOURCES__KICKSCALE__BASE_URL` (or `base_url` under `[sources.kickscale]` in `.dlt/config.toml`)
overrides the profile's base URL.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from kickscale_sync import settings as api
from kickscale_sync.windows import parse_instant

if TYPE_CHECKING:
    from kickscale_sync.client import Credentials

# dlt, DuckDB and httpx are imported where they are used: the CLI imports this module, and so
# does every worker process it spawns (see `cli`).

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROFILES_DIR = PROJECT_ROOT / "profiles"
SQL_DIR = PROJECT_ROOT / "sql"
DEFAULT_PROFILE = "dev"
SECRET_KEYS = frozenset({"api_key", "client_id", "password", "secret", "token", "credentials"})


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it and says how to fix it."""


# Constraints the profile loader checks (pydantic), so a wrong value fails at once, naming itself.
Positive = Field(gt=0)
NotNegative = Field(ge=0)
AtLeastOne = Field(ge=1)


@dataclass(frozen=True)
class SyncSettings:
    backfill_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    window_days: Annotated[float, Positive] = 7.0
    lookback_days: Annotated[float, NotNegative] = 14.0
    concurrency: Annotated[int, AtLeastOne] = 8
    requests_per_second: Annotated[float, NotNegative] = 20.0  # 0: no cap
    # A load ends once it holds this many conversations per endpoint, so that loads stay alike
    # however dense the workspace (80k backfill: 40-45 s, 1,012 MiB -> 32.6-33.0 s, 914-957 MiB).
    # DuckDB writes a load of a row group (2,048) or more straight into the file; a smaller one
    # goes through its WAL. Not much less: with 2,048 each load's last, partial row group was
    # tiny and the vacuum after a backfill slower (first nightly at 40k: 1.6 -> 2.8 s) ...
    conversations_per_load: Annotated[int, AtLeastOne] = 3072
    # ... or after this many windows per endpoint: what a kill can cost in a sparse workspace.
    # 16 cut a 10k workspace's loads at ~750 conversations, into the WAL (7.6-8.1 s, 780 MiB ->
    # 6.9-7.1 s, 708-735 MiB with 64; 40k unchanged) ...
    windows_per_load: Annotated[int, AtLeastOne] = 64
    # ... or once it holds this much (Arrow) per endpoint: long transcripts. Rows stream to
    # dlt's files, so this is not held in memory.
    load_mb: Annotated[float, Positive] = 256.0
    # rows held ahead of the load, at most: fetched, and being fetched (at the size of the windows
    # so far); enough to keep fetching while a load is written. Denser windows, fewer of them: an
    # 80k backfill took 40.5 s and peaked at ~1,010 MiB with 128, 37.6 s / 1,089 with 192
    read_ahead_mb: Annotated[float, NotNegative] = 128.0
    # processes that parse and shape pages; 0: in the reader threads
    shaping_processes: Annotated[int, NotNegative] = 1
    page_size: Annotated[int, Field(ge=1, le=api.MAX_PAGE_SIZE)] = api.MAX_PAGE_SIZE
    transcripts: bool = True
    scopes: tuple[str, ...] = api.SCOPES
    customer_domains: tuple[str, ...] = ()
    max_attempts: Annotated[int, AtLeastOne] = 8
    # the first retry waits up to this, doubling each time
    backoff_seconds: Annotated[float, NotNegative] = 0.5
    timeout_seconds: Annotated[float, Positive] = 30.0

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def lookback(self) -> timedelta:
        return timedelta(days=self.lookback_days)


@dataclass(frozen=True)
class DestinationSettings:
    kind: str = "duckdb"  # "duckdb" or "parquet"
    path: str = "data/kickscale.duckdb"  # a DuckDB file, or a folder / fsspec URL for parquet
    dataset: str = "raw"
    lock_timeout_seconds: Annotated[float, NotNegative] = 60.0
    working_dir: str = "data/.dlt"  # dlt's local pipeline state and load packages
    analytics_database: str = "data/analytics.duckdb"  # where models go for the Parquet kind
    # DuckDB's own default is 80% of the machine, and it fills that with cached blocks while
    # loading wide transcript rows (2.1 GiB at 40k records); bounded, it evicts to the file.
    # Not lower: 256 MB saved ~100 MiB on the sandbox's transcripts, but a 40k backfill of ones
    # three times as long then failed to commit (loaded at 512: 58 s, peak 1.6 GiB). Shown by
    # `bench_duckdb_load.py --transcript-words 12000 --rows-per-load 1300 --memory-limit 256MB`.
    duckdb_memory_limit: str = "512MB"  # empty: DuckDB's default
    # DuckDB's threads while a sync loads. The loads overlap the fetching, which sets the pace:
    # one thread leaves the other cores to it (40k backfill, 2 cores: 16.1-16.9 -> 15.8-16.1 s,
    # peak 922-941 -> 903-913 MiB), though a load alone is faster on all (bench_duckdb_load.py).
    # 0: one per core.
    duckdb_threads: Annotated[int, NotNegative] = 1


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    flow_timeout_seconds: Annotated[float, Positive] = 3 * 3600


@dataclass(frozen=True)
class Profile:
    name: str = DEFAULT_PROFILE
    base_url: str = api.DEFAULT_BASE_URL
    sync: SyncSettings = field(default_factory=SyncSettings)
    destination: DestinationSettings = field(default_factory=DestinationSettings)
    export_path: str = "data/exports"
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)

    @property
    def pipeline_name(self) -> str:
        return f"kickscale_{self.name.replace('-', '_')}"

    def with_destination(self, **changes: Any) -> Profile:
        return replace(self, destination=replace(self.destination, **changes))

    def with_sync(self, **changes: Any) -> Profile:
        return replace(self, sync=replace(self.sync, **changes))


def load_profile(name_or_path: str | None = None) -> Profile:
    """A profile by name (`profiles/NAME.toml`) or by path to a TOML file."""
    target = name_or_path or DEFAULT_PROFILE
    path = Path(target)
    if path.suffix != ".toml":
        path = PROFILES_DIR / f"{target}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ConfigError(
            f"profile {target!r} not found: give one of {known} or a path to a .toml file"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"profile {path} is not valid TOML: {error}") from None
    return profile_from_dict(data, default_name=path.stem, origin=str(path))


def profile_from_dict(data: dict[str, Any], default_name: str, origin: str = "profile") -> Profile:
    _refuse_secrets(data, origin)
    known_sections = {"name", "kickscale", "sync", "destination", "export", "schedule"}
    unknown = set(data) - known_sections
    if unknown:
        raise ConfigError(f"{origin}: unknown section(s) {', '.join(sorted(unknown))}")
    sync_data = dict(data.get("sync", {}))
    if "backfill_start" in sync_data:
        sync_data["backfill_start"] = _instant(
            sync_data["backfill_start"], f"{origin}: sync.backfill_start"
        )
    for key in ("scopes", "customer_domains"):
        if key in sync_data:
            sync_data[key] = tuple(sync_data[key])
    bad_scopes = set(sync_data.get("scopes", ())) - set(api.SCOPES)
    if bad_scopes:
        raise ConfigError(
            f"{origin}: sync.scopes accepts {', '.join(api.SCOPES)}, not {', '.join(bad_scopes)}"
        )
    destination = _section(
        DestinationSettings, data.get("destination", {}), f"{origin}: [destination]"
    )
    if destination.kind not in ("duckdb", "parquet"):
        raise ConfigError(
            f"{origin}: destination.kind must be 'duckdb' or 'parquet', not {destination.kind!r}"
        )
    if destination.duckdb_memory_limit:
        _check_memory_limit(destination.duckdb_memory_limit, f"{origin}: destination")
    return Profile(
        name=str(data.get("name", default_name)),
        base_url=str(data.get("kickscale", {}).get("base_url", api.DEFAULT_BASE_URL)),
        sync=_section(SyncSettings, sync_data, f"{origin}: [sync]"),
        destination=destination,
        export_path=str(data.get("export", {}).get("path", "data/exports")),
        schedule=_section(ScheduleSettings, data.get("schedule", {}), f"{origin}: [schedule]"),
    )


def _section(cls: type, values: dict[str, Any], origin: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"{origin} has unknown setting(s): {', '.join(sorted(unknown))}")
    try:
        return TypeAdapter(cls).validate_python(values)
    except ValidationError as error:
        raise ConfigError(_first_problem(error, origin)) from None


def _first_problem(error: ValidationError, origin: str) -> str:
    problem = error.errors()[0]
    setting = ".".join(str(part) for part in problem["loc"])
    requirement = problem["msg"].replace("Input should be", "must be")
    return f"{origin} {setting} {requirement}, not {problem['input']!r}"


def _check_memory_limit(value: str, origin: str) -> None:
    """DuckDB parses its own sizes ("512MB", "2GiB", "50%"); ask it now, not mid-load."""
    import duckdb

    try:
        duckdb.connect(config={"memory_limit": value}).close()
    except duckdb.Error as error:
        raise ConfigError(
            f"{origin}.duckdb_memory_limit must be a size like '512MB' or '2GiB', not {value!r} "
            f"({str(error).splitlines()[0]})"
        ) from None


def _instant(value: Any, origin: str) -> datetime:
    if isinstance(value, datetime):
        return parse_instant(value.isoformat())
    try:
        return parse_instant(str(value))
    except ValueError:
        raise ConfigError(f"{origin} must be a date like 2024-01-01, not {value!r}") from None


def _refuse_secrets(data: Any, origin: str, prefix: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key.lower() in SECRET_KEYS:
                raise ConfigError(
                    f"{origin}: {prefix}{key} is a secret and does not belong in a profile; "
                    "set it in the environment (SOURCES__KICKSCALE__API_KEY, ...) or .dlt/secrets.toml"
                )
            _refuse_secrets(value, origin, f"{prefix}{key}.")


def resolve_credentials() -> Credentials:
    """Credentials from dlt's providers: environment first, then `.dlt/secrets.toml`."""
    import dlt

    from kickscale_sync.client import Credentials

    return Credentials(
        api_key=str(dlt.secrets.get("sources.kickscale.api_key") or ""),
        client_id=str(dlt.secrets.get("sources.kickscale.client_id") or ""),
    )


def resolve_base_url(profile: Profile) -> str:
    import dlt

    override = dlt.config.get("sources.kickscale.base_url")
    return str(override or profile.base_url).rstrip("/")
