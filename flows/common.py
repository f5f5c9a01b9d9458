"""What the flows share: retry rules, the database guard, and the run summary artifact."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from kickscale_sync.config import Profile
from kickscale_sync.destinations import DestinationLocked
from kickscale_sync.models import ModelRun
from kickscale_sync.sync import SyncError, SyncSummary
from prefect import Task
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import State, TaskRun
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

# A second writer waits this long for the database before it gives up (and is retried).
DATABASE_WAIT_SECONDS = 15 * 60


def retry_only_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a busy API or a locked file; never bad credentials or bad settings."""
    try:
        state.result()
    except SyncError as error:
        return error.transient
    except DestinationLocked:
        return True
    except Exception:  # anything else: a bug or a setting; retrying will not fix it
        return False
    return False


# The sync step's retries: backoff of 1, 5 and 15 minutes, and only for transient failures.
TRANSIENT_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [60, 300, 900],
    "retry_condition_fn": retry_only_transient,
}


def database_lock_name(profile: Profile) -> str:
    """One global concurrency limit per database: nightly runs and backfills share it."""
    target = profile.destination.path.replace("/", "-").replace(".", "-").strip("-")
    return f"kickscale-db-{target}"[:120]


def ensure_database_lock(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        with suppress(ObjectAlreadyExists):  # another run may have created it meanwhile
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


@contextmanager
def database_guard(profile: Profile, timeout_seconds: float | None = None) -> Iterator[None]:
    """Hold the database's slot: never a nightly run and a backfill writing it at once."""
    timeout_seconds = DATABASE_WAIT_SECONDS if timeout_seconds is None else timeout_seconds
    name = database_lock_name(profile)
    ensure_database_lock(name)
    try:
        slot = concurrency(name, occupy=1, timeout_seconds=timeout_seconds, strict=True)
        slot.__enter__()
    except TimeoutError:
        raise DatabaseBusy(
            f"another run (a nightly sync or a backfill) is writing {profile.destination.path}; "
            f"gave up after {timeout_seconds:g}s waiting for the concurrency limit {name!r}"
        ) from None
    try:
        yield
    finally:
        slot.__exit__(None, None, None)


class DatabaseBusy(RuntimeError):
    """Another flow run holds the database."""


def artifact_key(kind: str, profile: Profile) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"kickscale-{kind}-{profile.name}".lower()).strip("-")


def publish_summary(
    key: str, title: str, summary: SyncSummary | None, models: ModelRun | None, seconds: float
) -> None:
    """A markdown artifact with what the run did (rows per table, windows, quarantine, tests)."""
    lines = [f"# {title}", ""]
    if summary:
        start, end = summary.as_dict()["range"]
        lines += [
            f"Range: `{start}` .. `{end}`", "",
            "| table | new or changed rows | unchanged | quarantined |", "| --- | ---: | ---: | ---: |",
        ]  # fmt: skip
        for table in sorted(set(summary.rows) | set(summary.unchanged)):
            lines.append(
                f"| {table} | {summary.rows.get(table, 0)} | {summary.unchanged.get(table, 0)} "
                f"| {summary.quarantined.get(table, 0)} |"
            )
        lines += [
            "",
            f"{summary.windows} windows, {summary.loads} loads, {summary.requests} requests, "
            f"{summary.retries} retries, {summary.deleted} marked deleted.",
        ]
    if models:
        failed = [name for name, rows in models.tests.items() if rows]
        lines += [
            "",
            f"Models as of {models.as_of}: {len(models.tables)} built; data tests "
            f"{len(models.tests) - len(failed)}/{len(models.tests)} passed.",
        ]
    lines += ["", f"Duration: {seconds:.1f}s"]
    create_markdown_artifact(key=key, markdown="\n".join(lines), description=title)
