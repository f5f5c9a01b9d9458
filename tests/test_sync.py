"""The sync against the sandbox over HTTP: windows, exactly-once, late edits, deletions, faults."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from kickscale_sync import settings as api
from kickscale_sync.destinations import Destination
from kickscale_sync.sandbox import Faults, Sandbox
from kickscale_sync.sync import SyncError, SyncRequest, SyncSummary, is_out_of_memory, run_sync

from .conftest import HISTORY_END, HISTORY_START, small_spec


def query(profile, sql: str) -> list[tuple]:
    with duckdb.connect(profile.destination.path, read_only=True) as con:
        return con.execute(sql).fetchall()


def upstream(sandbox: Sandbox, endpoint: str) -> dict[str, str]:
    """id -> updatedAt of every live record, straight from the sandbox's workspace."""
    out = {}
    for idx in sandbox.workspace.list_indices(
        endpoint, start=None, end=None, scopes=frozenset(api.SCOPES), domain=None, descending=False
    ):
        record = sandbox.workspace.render(endpoint, idx, with_user=False, with_transcript=False)
        out[record["id"]] = record["updatedAt"]
    return out


def loaded(profile, table: str, live_only: bool = True) -> dict[str, str]:
    where = "WHERE deleted_at IS NULL" if live_only else ""
    rows = query(
        profile,
        f"SELECT id, strftime(updated_at, '%Y-%m-%dT%H:%M:%S.%gZ') FROM raw.{table} {where}",
    )
    return dict(rows)


def sync(profile, now: datetime, **options) -> object:
    return run_sync(SyncRequest(profile=profile, now=now, **options))


def test_backfill_loads_every_record_exactly_once(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    summary = sync(profile, HISTORY_END)
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)
        assert query(profile, f"SELECT count(*) = count(DISTINCT id) FROM raw.{endpoint}") == [
            (True,)
        ]
    transcripts = query(
        profile,
        "SELECT count(*), count(DISTINCT conversation_id), min(word_count) FROM raw.transcripts",
    )
    assert (
        transcripts[0][0]
        == transcripts[0][1]
        == len(upstream(sandbox, "meetings")) + len(upstream(sandbox, "calls"))
    )
    assert transcripts[0][2] > 0
    assert summary.windows == 2 * 14  # 92 days in aligned 7-day windows, for both endpoints
    assert summary.loads == 4  # 14 windows, 4 per load
    assert summary.requests == summary.pages + 1  # plus the credential check
    assert "calls" in summary.render() and "windows" in summary.render()


def test_the_summary_counts_loads_in_words() -> None:
    assert "14 windows in 1 load, " in SyncSummary(windows=14, loads=1).render()
    assert "14 windows in 2 loads, " in SyncSummary(windows=14, loads=2).render()


def test_loads_are_cut_by_size_and_reads_ahead_stay_in_budget(sandbox, profile_for) -> None:
    # A few KiB per load and of read-ahead: every window becomes its own load, nothing is lost.
    tiny = profile_for(sandbox, load_mb=0.001, read_ahead_mb=0.001, shaping_processes=0)
    summary = sync(tiny, HISTORY_END)
    assert summary.loads == 14  # one window per endpoint per load, by size, not 4 by count
    for endpoint in api.ENDPOINTS:
        assert loaded(tiny, endpoint) == upstream(sandbox, endpoint)
    state = query(tiny, "SELECT count(*) FROM raw._dlt_loads")
    assert state == [(14,)]
    # Loaded files are not kept in dlt's working dir (they would be a second copy of everything).
    assert not list(Path(tiny.destination.working_dir).rglob("*.parquet"))


def test_loads_are_cut_by_conversations(sandbox, profile_for) -> None:
    # ~21 meetings a week: a load takes weeks until it holds 50, however many windows that is.
    profile = profile_for(sandbox, conversations_per_load=50, windows_per_load=64)
    summary = sync(profile, HISTORY_END)
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)
        per_load = [
            n
            for (n,) in query(
                profile,
                f"SELECT count(*) FROM raw.{endpoint} GROUP BY _dlt_load_id ORDER BY _dlt_load_id",
            )
        ]
        assert len(per_load) > 2  # not one load of all 14 windows
        assert all(n >= 50 for n in per_load[:-1]), per_load  # only the last holds fewer
        assert all(n < 50 + 40 for n in per_load), per_load  # a window more at most
    assert summary.loads == max(
        len(query(profile, f"SELECT DISTINCT _dlt_load_id FROM raw.{e}")) for e in api.ENDPOINTS
    )


def test_rerunning_changes_nothing(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    before = query(profile, "SELECT id, _dlt_load_id FROM raw.meetings ORDER BY id")
    again = sync(profile, HISTORY_END, start=HISTORY_START, end=HISTORY_END)
    assert sum(again.rows.values()) == 0
    assert sum(again.unchanged.values()) == len(before) + len(loaded(profile, "calls"))
    assert query(profile, "SELECT id, _dlt_load_id FROM raw.meetings ORDER BY id") == before


def test_only_a_sync_that_replaced_rows_vacuums_the_file(sandbox, profile_for, monkeypatch) -> None:
    # A backfill into an empty range only appends: DuckDB's vacuum at the end would rewrite the
    # table for nothing. A rerun over loaded rows replaces some: the vacuum reclaims them.
    compacted = []
    writing = Destination.writing

    @contextmanager
    def noting(self: Destination) -> Iterator[Destination]:
        with writing(self) as held:
            yield held
            compacted.append(self.compact_on_close)

    monkeypatch.setattr(Destination, "writing", noting)
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    sync(profile, HISTORY_END, start=HISTORY_START, end=HISTORY_END)
    assert compacted == [False, True]


def test_incremental_run_picks_up_new_records_and_edits_within_the_lookback(
    sandbox, profile_for
) -> None:
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    sandbox.advance(days=3)
    now = HISTORY_END + timedelta(days=3)
    summary = sync(profile, now)
    assert summary.range_start == HISTORY_END - timedelta(days=14)
    assert summary.range_end == now
    for endpoint in api.ENDPOINTS:
        expected = upstream(sandbox, endpoint)
        got = loaded(profile, endpoint)
        recent = {i for i, _ in expected.items()}
        missing = {i for i in recent if i not in got}
        # Everything dated inside the lookback is current; older late edits wait for a full refresh.
        stale = {i for i in expected if got.get(i) != expected[i]}
        for record_id in stale | missing:
            idx = sandbox.workspace.find(endpoint, record_id)
            date = sandbox.workspace.render(endpoint, idx, with_user=False, with_transcript=False)[
                "date"
            ]
            assert datetime.fromisoformat(date.replace("Z", "+00:00")) < summary.range_start
    assert summary.rows["meetings"] > 0


def test_a_record_edited_inside_the_lookback_is_updated_in_place(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    before = loaded(profile, "meetings")
    sandbox.advance(days=2)
    sync(profile, HISTORY_END + timedelta(days=2))
    after = loaded(profile, "meetings")
    edited = [i for i in before if i in after and after[i] != before[i]]
    assert edited
    record_id = edited[0]
    idx = sandbox.workspace.find("meetings", record_id)
    fresh = sandbox.workspace.render("meetings", idx, with_user=False, with_transcript=False)
    rows = query(
        profile,
        f"SELECT count(*), any_value(json_array_length(comments)) FROM raw.meetings WHERE id = '{record_id}'",
    )
    assert rows == [(1, len(fresh["comments"]))]
    # Transcripts are appended, then superseded versions dropped: one row, the newest version.
    transcript = query(
        profile,
        "SELECT count(*), any_value(t.updated_at = m.updated_at) FROM raw.transcripts t "
        f"JOIN raw.meetings m ON m.id = t.conversation_id WHERE t.conversation_id = '{record_id}'",
    )
    assert transcript == [(1, True)]
    assert query(
        profile, "SELECT count(*) = count(DISTINCT conversation_id) FROM raw.transcripts"
    ) == [(True,)]


def test_full_refresh_sees_old_edits_and_marks_deletions(make_sandbox, profile_for) -> None:
    sandbox = make_sandbox(small_spec(delete_share=0.1))
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    sandbox.advance(days=40)
    now = HISTORY_END + timedelta(days=40)
    sync(profile, now)  # incremental: misses deletions and edits older than the lookback
    summary = sync(profile, now, full_refresh=True)
    assert summary.deleted > 0
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)
        everything = loaded(profile, endpoint, live_only=False)
        deleted = set(everything) - set(upstream(sandbox, endpoint))
        assert deleted  # still there, marked, never silently removed
        assert query(profile, f"SELECT count(*) FROM raw.{endpoint} WHERE deleted_at IS NOT NULL")[
            0
        ][0] == len(deleted)
    again = sync(profile, now, full_refresh=True)
    assert again.deleted == 0


def test_sync_by_id(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    meeting, call = (
        next(iter(upstream(sandbox, "meetings"))),
        next(iter(upstream(sandbox, "calls"))),
    )
    summary = sync(profile, HISTORY_END, ids=(meeting, call, "no-such-id"))
    assert set(loaded(profile, "meetings")) == {meeting}
    assert set(loaded(profile, "calls")) == {call}
    assert summary.rows["meetings"] == summary.rows["calls"] == 1


def test_customer_domain_filter(sandbox, profile_for) -> None:
    profile = profile_for(sandbox, customer_domains=("globex.io", "initech.com"))
    sync(profile, HISTORY_END)
    domains = query(
        profile,
        "SELECT DISTINCT list_sort(from_json(customer_domains, '[\"VARCHAR\"]')) FROM raw.meetings",
    )
    assert domains
    assert all({"globex.io", "initech.com"} & set(d[0]) for d in domains)


def test_without_transcripts(sandbox, profile_for) -> None:
    profile = profile_for(sandbox, transcripts=False)
    sync(profile, HISTORY_END)
    tables = {
        t
        for (t,) in query(
            profile, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        )
    }
    assert "meetings" in tables and "transcripts" not in tables


def test_malformed_records_are_quarantined_and_the_rest_loads(make_sandbox, profile_for) -> None:
    sandbox = make_sandbox(faults=Faults(malformed_rate=0.05, seed=3))
    profile = profile_for(sandbox)
    summary = sync(profile, HISTORY_END)
    reasons = query(
        profile, "SELECT reason, endpoint, window_start IS NOT NULL, raw_json FROM raw.quarantine"
    )
    assert reasons and sum(summary.quarantined.values()) == len(reasons)
    assert {r[0].split(" ")[0] for r in reasons} <= {"missing", "date", "duration"}
    assert all(r[2] for r in reasons)
    good = len(loaded(profile, "meetings")) + len(loaded(profile, "calls"))
    total = len(upstream(sandbox, "meetings")) + len(upstream(sandbox, "calls"))
    assert good + len(reasons) == total
    again = sync(profile, HISTORY_END, start=HISTORY_START, end=HISTORY_END)
    assert query(profile, "SELECT count(*) FROM raw.quarantine")[0][0] == len(
        reasons
    )  # no duplicates
    assert sum(again.quarantined.values()) == len(reasons)


def test_transient_faults_are_retried_to_a_complete_load(make_sandbox, profile_for) -> None:
    faults = Faults(
        seed=9,
        error_rate=0.15,
        reset_rate=0.05,
        truncate_rate=0.05,
        rate_limit_rate=0.1,
        retry_after_seconds=0,
    )
    sandbox = make_sandbox(faults=faults)
    profile = profile_for(sandbox, backoff_seconds=0.01, max_attempts=10)
    summary = sync(profile, HISTORY_END)
    assert summary.retries > 0
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)


def test_forbidden_stops_at_once_with_the_setting_to_check(
    sandbox, profile_for, monkeypatch
) -> None:
    profile = profile_for(sandbox)
    monkeypatch.setenv("SOURCES__KICKSCALE__API_KEY", "expired-key-123")
    with pytest.raises(SyncError) as raised:
        sync(profile, HISTORY_END)
    message = str(raised.value)
    assert "403" in message and "SOURCES__KICKSCALE__API_KEY" in message
    assert "expired-key-123" not in message
    assert sandbox.stats["status 403"] == 1  # never retried


def test_redirects_are_not_followed(make_sandbox, profile_for) -> None:
    sandbox = make_sandbox(faults=Faults(redirect_rate=1.0, redirect_to="http://127.0.0.2:9"))
    profile = profile_for(sandbox)
    with pytest.raises(SyncError, match="redirect"):
        sync(profile, HISTORY_END)


def test_bare_array_responses_are_read_too(make_sandbox, profile_for) -> None:
    sandbox = make_sandbox(faults=Faults(bare_array=True))
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    assert loaded(profile, "calls") == upstream(sandbox, "calls")


def test_explicit_range_does_not_move_the_resume_point_backwards(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    sync(
        profile,
        HISTORY_END,
        start=datetime(2025, 11, 1, tzinfo=UTC),
        end=datetime(2025, 11, 8, tzinfo=UTC),
    )
    sandbox.advance(days=1)
    summary = sync(profile, HISTORY_END + timedelta(days=1))
    assert summary.range_start == HISTORY_END - timedelta(days=14)


def test_empty_range_is_a_clear_error(sandbox, profile_for) -> None:
    profile = profile_for(sandbox)
    with pytest.raises(SyncError, match="empty"):
        sync(profile, HISTORY_END, start=HISTORY_END, end=HISTORY_START)


def test_duckdb_out_of_memory_names_the_setting_in_one_line(sandbox, profile_for) -> None:
    profile = profile_for(sandbox).with_destination(duckdb_memory_limit="2MB")
    with pytest.raises(SyncError) as raised:
        sync(profile, HISTORY_END)
    message = str(raised.value)
    assert "\n" not in message and not raised.value.transient
    assert "destination.duckdb_memory_limit = 2MB" in message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data"), True),
        # As a 40k backfill of long transcripts under 256 MB failed, inside dlt's load step:
        (
            duckdb.TransactionException(
                "TransactionContext Error: Failed to commit: failed to pin block of size "
                "256.0 KiB (244.1 MiB/244.1 MiB used)"
            ),
            True,
        ),
        (duckdb.TransactionException("TransactionContext Error: Conflict on tuple"), False),
        (duckdb.IOException("IO Error: could not allocate file handle"), False),
    ],
)
def test_what_counts_as_duckdb_running_out_of_memory(error, expected) -> None:
    assert is_out_of_memory(error) is expected


# ----------------------------------------------------------------------- Parquet destination
def current_parquet(profile, table: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT id, strftime(updated_at, '%Y-%m-%dT%H:%M:%S.%gZ'), deleted_at FROM read_parquet('{profile.destination.path}/current/{table}.parquet')"
        ).fetchall()


def test_parquet_destination_publishes_one_current_row_per_id(make_sandbox, profile_for) -> None:
    sandbox = make_sandbox(small_spec(delete_share=0.1))
    profile = profile_for(sandbox, kind="parquet")
    sync(profile, HISTORY_END)
    sandbox.advance(days=20)
    now = HISTORY_END + timedelta(days=20)
    sync(profile, now)
    summary = sync(profile, now, full_refresh=True)
    assert summary.published["meetings"] > 0
    for endpoint in api.ENDPOINTS:
        rows = current_parquet(profile, endpoint)
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids))  # one row per id, although raw/ holds every version
        live = {r[0]: r[1] for r in rows if r[2] is None}
        assert live == upstream(sandbox, endpoint)
    with duckdb.connect() as con:
        versions = con.execute(
            f"SELECT count(*) FROM read_parquet('{profile.destination.path}/raw/meetings/*.parquet')"
        ).fetchone()[0]
    assert versions > len(current_parquet(profile, "meetings"))  # the history is kept in raw/
    assert summary.deleted > 0
    transcripts = pq_rows(profile, "transcripts")
    assert transcripts == len(
        {r[0] for r in current_parquet(profile, "meetings")}
        | {r[0] for r in current_parquet(profile, "calls")}
    )


def test_parquet_publish_out_of_memory_names_the_setting_in_one_line(sandbox, profile_for) -> None:
    # The loads write Parquet without DuckDB; publishing current/ is where DuckDB's limit applies.
    profile = profile_for(sandbox, kind="parquet").with_destination(duckdb_memory_limit="2MB")
    with pytest.raises(SyncError) as raised:
        sync(profile, HISTORY_END)
    message = str(raised.value)
    assert "\n" not in message and not raised.value.transient
    assert "while reading or publishing" in message
    assert "destination.duckdb_memory_limit = 2MB" in message


def test_parquet_current_files_have_row_groups_bounded_by_size(
    sandbox, profile_for, monkeypatch
) -> None:
    import pyarrow.parquet as pq

    # Wide transcript rows: a row group bounded by rows could outgrow the memory limit.
    monkeypatch.setattr("kickscale_sync.destinations.PUBLISH_ROW_GROUP_BYTES", "256KB")
    profile = profile_for(sandbox, kind="parquet")
    sync(profile, HISTORY_END)
    metadata = pq.ParquetFile(f"{profile.destination.path}/current/transcripts.parquet").metadata
    assert metadata.num_rows == len(upstream(sandbox, "meetings")) + len(upstream(sandbox, "calls"))
    assert metadata.num_row_groups > 1
    # DuckDB closes a group once it passes the size, so each holds at most a chunk more.
    sizes = [metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)]
    assert max(sizes) < 4 * 256 * 1024, sizes


def pq_rows(profile, table: str) -> int:
    import pyarrow.parquet as pq

    return pq.read_table(f"{profile.destination.path}/current/{table}.parquet").num_rows


def test_credentials_never_reach_state_files_or_the_warehouse(
    make_sandbox, profile_for, tmp_path
) -> None:
    sandbox = make_sandbox(api_key="very-secret-key-9f3a", client_id="client-77be")
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    leaked = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file()
        and (b"very-secret-key-9f3a" in path.read_bytes() or b"client-77be" in path.read_bytes())
    ]
    assert leaked == []


def test_parquet_destination_at_an_fsspec_url(sandbox, profile_for) -> None:
    import fsspec
    import pyarrow.parquet as pq

    profile = profile_for(sandbox, kind="parquet").with_destination(
        path="memory://kickscale-test/lake"
    )
    sync(profile, HISTORY_END)
    fs = fsspec.filesystem("memory")
    with fs.open("/kickscale-test/lake/current/meetings.parquet", "rb") as handle:
        table = pq.read_table(handle)
    assert table.num_rows == len(upstream(sandbox, "meetings"))
    assert sorted(table.column("id").to_pylist()) == sorted(upstream(sandbox, "meetings"))


def test_full_refresh_never_marks_quarantined_or_filtered_out_records_deleted(
    make_sandbox, profile_for
) -> None:
    sandbox = make_sandbox(small_spec(delete_share=0.0))
    profile = profile_for(sandbox)
    sync(profile, HISTORY_END)
    sandbox.faults = Faults(malformed_rate=0.1, seed=8)  # some records now arrive with a bad date
    summary = sync(profile, HISTORY_END, full_refresh=True)
    assert sum(summary.quarantined.values()) > 0
    assert summary.deleted == 0
    filtered = profile.with_sync(customer_domains=("globex.io",))
    sandbox.faults = Faults()
    assert sync(filtered, HISTORY_END, full_refresh=True).deleted == 0
    assert query(profile, "SELECT count(*) FROM raw.meetings WHERE deleted_at IS NOT NULL") == [
        (0,)
    ]


def test_a_worker_process_shapes_backfills_but_not_small_runs(sandbox, profile_for) -> None:
    from kickscale_sync.sync import _Plan, _shaping_processes
    from kickscale_sync.windows import plan_windows

    settings = profile_for(sandbox, concurrency=4, shaping_processes=1).sync
    year = _Plan(
        HISTORY_START, HISTORY_END, plan_windows(HISTORY_START, HISTORY_END, settings.window)
    )
    nightly = _Plan(HISTORY_END - timedelta(days=15), HISTORY_END, year.windows[-3:])
    profile = profile_for(sandbox)
    assert _shaping_processes(settings, year, SyncRequest(profile=profile)) == 1
    assert _shaping_processes(settings, nightly, SyncRequest(profile=profile)) == 0
    assert _shaping_processes(settings, year, SyncRequest(profile=profile, ids=("m-1",))) == 0


def test_requests_in_flight_never_exceed_the_concurrency(make_sandbox, profile_for) -> None:
    # More readers than connections (`reader_threads`): the spare ones wait for a connection.
    sandbox = make_sandbox(faults=Faults(latency_ms=40))
    profile = profile_for(sandbox, concurrency=2, windows_per_load=16, shaping_processes=0)
    summary = sync(profile, HISTORY_END)
    assert sandbox.peak_in_flight == 2  # reached, never passed
    assert sandbox.state()["peak_in_flight"] == 2
    for endpoint in api.ENDPOINTS:
        assert loaded(profile, endpoint) == upstream(sandbox, endpoint)
    assert summary.retries == 0  # waiting for a connection is not a failure
