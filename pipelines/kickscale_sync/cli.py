"""`kickscale-sync`: the command line."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

# Only light imports here: a spawned worker process re-imports this module (multiprocessing
# runs the console script as its `__mp_main__`), so dlt, DuckDB and httpx load where used.
from kickscale_sync import settings as api
from kickscale_sync.config import ConfigError, load_profile
from kickscale_sync.windows import parse_instant

app = typer.Typer(
    name="kickscale-sync",
    help="Sync Kickscale meetings and calls into DuckDB or Parquet, and run a local Kickscale sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProfileOption = Annotated[
    str, typer.Option("--profile", "-p", help="Profile name in profiles/ or a path to a TOML file.")
]


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr that says what went wrong and what to do; no traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _instant(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        fail(
            f"{flag} must be a date or instant like 2026-03-01 or 2026-03-01T00:00:00Z, not {value!r}",
            2,
        )


def guarded(action: Callable[[], Any]) -> Any:
    """Run a command body, turning known failures into one clear line."""
    from kickscale_sync.client import KickscaleError
    from kickscale_sync.destinations import DestinationLocked
    from kickscale_sync.models import ModelError
    from kickscale_sync.sync import SyncError
    from kickscale_sync.upload import ManifestError

    try:
        return action()
    except ConfigError as error:
        fail(str(error), 2)
    except (SyncError, KickscaleError, DestinationLocked, ModelError, ManifestError) as error:
        fail(str(error))


# ---------------------------------------------------------------------------------- sandbox
@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind; keep it on loopback.")] = "127.0.0.1",
    seed: Annotated[
        int, typer.Option(help="Seed of the synthetic workspace: same seed, same data.")
    ] = 7,
    api_key: Annotated[
        str, typer.Option(help="The api-key header value the sandbox accepts.")
    ] = "sandbox-api-key",
    client_id: Annotated[
        str, typer.Option(help="The client-id header value the sandbox accepts.")
    ] = "sandbox-client",
    meetings: Annotated[int, typer.Option(help="Meetings in the initial history.")] = 2_000,
    calls: Annotated[int, typer.Option(help="Calls in the initial history.")] = 2_000,
    start: Annotated[str, typer.Option(help="First day of the history (UTC).")] = "2025-01-01",
    end: Annotated[
        str | None,
        typer.Option(help="End of the history, where the clock starts [default: today 00:00 UTC]."),
    ] = None,
    transcript_words: Annotated[
        int, typer.Option(help="Transcript words per 30 minutes of conversation.")
    ] = 4_000,
    latency_ms: Annotated[
        float, typer.Option(help="Fault: latency added to every API request.")
    ] = 0.0,
    latency_jitter_ms: Annotated[
        float, typer.Option(help="Fault: plus a random extra latency up to this.")
    ] = 0.0,
    rate_limit_rate: Annotated[
        float, typer.Option(help="Fault: share of requests answered 429.")
    ] = 0.0,
    max_rps: Annotated[
        float, typer.Option(help="Fault: answer 429 above this many requests per second (0: off).")
    ] = 0.0,
    retry_after: Annotated[
        int, typer.Option(help="Fault: the Retry-After of a 429, in seconds.")
    ] = 1,
    retry_after_http_date_share: Annotated[
        float, typer.Option(help="Fault: share of 429s with an HTTP-date Retry-After.")
    ] = 0.0,
    error_rate: Annotated[
        float, typer.Option(help="Fault: share of requests answered 500, 502 or 503.")
    ] = 0.0,
    reset_rate: Annotated[
        float, typer.Option(help="Fault: share of connections reset (TCP RST).")
    ] = 0.0,
    truncate_rate: Annotated[
        float, typer.Option(help="Fault: share of responses cut short.")
    ] = 0.0,
    malformed_rate: Annotated[
        float, typer.Option(help="Fault: share of records malformed (no id, bad date, wrong type).")
    ] = 0.0,
    redirect_rate: Annotated[
        float, typer.Option(help="Fault: share of requests redirected (307) to another host.")
    ] = 0.0,
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault decisions.")] = 0,
    max_upload_mb: Annotated[
        float, typer.Option(help="Largest upload accepted, in MiB (413 above).")
    ] = api.UPLOAD_MAX_BYTES / 2**20,
) -> None:
    """Run a local Kickscale API in the foreground (Ctrl-C stops it).

    It speaks the API contract with a seeded synthetic workspace. Its clock and faults can be
    changed while it runs: POST /_sandbox/advance {"days": 1}, PUT /_sandbox/faults {...},
    GET /_sandbox/state.
    """
    from kickscale_sync.sandbox import Faults, Sandbox, WorkspaceSpec

    history_end = _instant(end, "--end") or _today()
    spec = WorkspaceSpec(
        seed=seed,
        meetings=meetings,
        calls=calls,
        start=_instant(start, "--start") or parse_instant("2025-01-01"),
        end=history_end,
        transcript_words=transcript_words,
        client_id=client_id,
    )
    faults = Faults(
        seed=fault_seed,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        rate_limit_rate=rate_limit_rate,
        max_requests_per_second=max_rps,
        retry_after_seconds=retry_after,
        retry_after_http_date_share=retry_after_http_date_share,
        error_rate=error_rate,
        reset_rate=reset_rate,
        truncate_rate=truncate_rate,
        malformed_rate=malformed_rate,
        redirect_rate=redirect_rate,
    )
    try:
        server = Sandbox(
            spec,
            faults=faults,
            api_key=api_key,
            client_id=client_id,
            host=host,
            port=port,
            max_upload_bytes=int(max_upload_mb * 2**20),
        )
    except (OSError, ValueError) as error:
        fail(f"cannot start the sandbox on {host}:{port}: {error}")
    typer.echo(
        f"Kickscale sandbox on {server.url} (seed {seed}, clock at {history_end:%Y-%m-%dT%H:%M:%SZ})"
    )
    typer.echo(f"  accepts: {api.API_KEY_HEADER}: {api_key}   {api.CLIENT_ID_HEADER}: {client_id}")
    typer.echo(
        f"  try:     curl -s -H '{api.API_KEY_HEADER}: {api_key}' -H '{api.CLIENT_ID_HEADER}: {client_id}' '{server.url}/meetings?pageSize=2'"
    )
    typer.echo(
        f"  sync:    SOURCES__KICKSCALE__BASE_URL={server.url} SOURCES__KICKSCALE__API_KEY={api_key} "
        f"SOURCES__KICKSCALE__CLIENT_ID={client_id} kickscale-sync sync"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("sandbox stopped")


def _today() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# ------------------------------------------------------------------------------------- sync
@app.command()
def sync(
    profile: ProfileOption = "dev",
    start: Annotated[
        str | None, typer.Option(help="Re-sync from this date or instant (UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Sync up to this instant, exclusive [default: now].")
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Re-scan everything from the backfill start; mark records gone upstream as deleted.",
        ),
    ] = False,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="Only these meeting or call ids (repeatable).")
    ] = None,
    domains: Annotated[
        list[str] | None,
        typer.Option("--domain", help="Only conversations with this customer domain (repeatable)."),
    ] = None,
    transcripts: Annotated[bool, typer.Option(help="Fetch transcripts.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on a terminal.")] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print a line per committed load.")
    ] = False,
) -> None:
    """Bring new and changed meetings and calls into the destination (incremental by default)."""
    from kickscale_sync.sync import SyncRequest, run_sync

    def body() -> None:
        chosen = load_profile(profile)
        if domains:
            chosen = chosen.with_sync(customer_domains=tuple(d.lower() for d in domains))
        if not transcripts:
            chosen = chosen.with_sync(transcripts=False)
        request = SyncRequest(
            profile=chosen,
            start=_instant(start, "--start"),
            end=_instant(end, "--end"),
            full_refresh=full_refresh,
            ids=tuple(ids or ()),
            show_progress=progress,
        )
        summary = run_sync(request, on_progress=lambda line: typer.echo(line) if verbose else None)
        typer.echo(summary.render())

    guarded(body)


# ----------------------------------------------------------------------------------- doctor
@app.command()
def doctor(profile: ProfileOption = "dev") -> None:
    """Check the profile, the credentials (one read-only request) and the destination."""
    from kickscale_sync.diagnose import diagnose

    def body() -> None:
        problems = 0
        for ok, line in diagnose(load_profile(profile)):
            typer.echo(f"{'ok  ' if ok else 'FAIL'} {line}")
            problems += not ok
        if problems:
            raise typer.Exit(1)

    guarded(body)


# ----------------------------------------------------------------------------------- models
@app.command()
def models(
    profile: ProfileOption = "dev",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date the figures are computed for [default: today, UTC]."),
    ] = None,
) -> None:
    """Build the SQL models in sql/ into the `analytics` schema and run their data tests."""
    from kickscale_sync.models import run_models

    def body() -> None:
        day = _instant(as_of, "--as-of")
        run = run_models(load_profile(profile), day.date() if day else None)
        typer.echo(run.render())

    guarded(body)


# ----------------------------------------------------------------------------------- export
@app.command()
def export(
    profile: ProfileOption = "dev",
    csv: Annotated[
        bool, typer.Option("--csv", help="Also write <table>.csv beside the Parquet folders.")
    ] = False,
) -> None:
    """Write every mart as Parquet for BI tools (Hive-partitioned by month where large)."""
    from kickscale_sync.export import run_export

    def body() -> None:
        typer.echo(run_export(load_profile(profile), csv=csv).render())

    guarded(body)


# ----------------------------------------------------------------------------------- upload
@app.command()
def upload(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="CSV or JSON Lines: file, date, direction, caller_name, caller_phone_number, callee_name, callee_phone_number, external_call_id, owner_email, customer_domain."
        ),
    ],
    profile: ProfileOption = "dev",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the manifest and show what would be uploaded.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Uploads at once.")] = 4,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print a line per finished upload.")
    ] = False,
) -> None:
    """Upload calls recorded elsewhere; every row is checked first, and nothing is sent twice."""
    from kickscale_sync.upload import upload_calls

    def body() -> None:
        run = upload_calls(
            load_profile(profile),
            manifest,
            dry_run=dry_run,
            concurrency=concurrency,
            show_progress=not verbose,
            on_done=(lambda call, status: typer.echo(f"{status} {call.external_call_id}"))
            if verbose
            else None,
        )
        typer.echo(run.render(dry_run=dry_run))
        if run.failed:
            raise typer.Exit(1)

    guarded(body)


# ------------------------------------------------------------------------------------ serve
@app.command()
def serve(profile: ProfileOption = "prod") -> None:
    """Serve the Prefect deployments (nightly sync on the profile's schedule, backfill on demand)."""

    def body() -> None:
        load_profile(profile)  # a bad profile fails here, before Prefect starts
        from kickscale_flows.deployments import serve_profile

        serve_profile(profile)

    guarded(body)


# ------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    meetings: Annotated[int, typer.Option(help="Meetings in the demo workspace.")] = 1_500,
    calls: Annotated[int, typer.Option(help="Calls in the demo workspace.")] = 1_500,
    days: Annotated[int, typer.Option(help="Days of history in the demo workspace.")] = 365,
    profile: ProfileOption = "demo",
) -> None:
    """Start a sandbox, sync a realistic workspace into a local DuckDB file, and show where it is."""
    from kickscale_sync.demo import run_demo

    guarded(
        lambda: run_demo(
            load_profile(profile), meetings=meetings, calls=calls, days=days, echo=typer.echo
        )
    )


def main() -> None:
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
