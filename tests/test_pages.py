"""A window from its pages: shaped page by page, merged by id, the last version winning."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context

import orjson
import pytest
from kickscale_sync.client import KickscaleError
from kickscale_sync.records import content_hash, shape_page
from kickscale_sync.source import merge_pages

NOW = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2025, 12, 8, tzinfo=UTC))


def meeting(record_id: str | None, name: str = "call", date: str = "2025-12-02T09:00:00Z") -> dict:
    record = {
        "date": date,
        "updatedAt": "2025-12-03T09:00:00Z",
        "name": name,
        "transcript": [{"speaker": "A", "start": 0, "end": 1, "text": f"{name} words"}],
    }
    if record_id is not None:
        record["id"] = record_id
    return record


def page(*records: dict, total: int | None = None):
    body = orjson.dumps({"data": list(records), "meta": {"total": total or len(records)}})
    return shape_page(body, "meetings", WINDOW, NOW)


def column(rows, table: str, name: str) -> list:
    return rows.tables[table].column(name).to_pylist() if table in rows.tables else []


def test_a_page_is_shaped_into_arrow_tables_with_its_paging_facts() -> None:
    shaped = page(meeting("a"), meeting("b"), {"id": "c", "date": "not a date"}, total=250)
    assert (shaped.records, shaped.total) == (3, 250)
    assert column(shaped.rows, "meetings", "id") == ["a", "b"]
    assert column(shaped.rows, "transcripts", "conversation_id") == ["a", "b"]
    assert column(shaped.rows, "quarantine", "record_id") == ["c"]
    assert shaped.rows.seen_ids == ["a", "b", "c"]


def test_garbled_bodies_and_wrong_envelopes_say_so() -> None:
    with pytest.raises(ValueError):  # the client retries these
        shape_page(b'{"data": [{"id"', "meetings", WINDOW, NOW)
    with pytest.raises(KickscaleError, match="unexpected shape"):
        shape_page(b'"hello"', "meetings", WINDOW, NOW)


def test_the_last_version_of_an_id_wins_across_pages_and_reads() -> None:
    first_read = [page(meeting("a", "old"), meeting("b")), page(meeting("a", "newer"))]
    second_read = [page(meeting("b", "newest"))]
    rows = merge_pages([first_read, second_read], "meetings", known={})
    names = dict(zip(column(rows, "meetings", "id"), column(rows, "meetings", "name"), strict=True))
    assert names == {"a": "newer", "b": "newest"}
    transcripts = column(rows, "transcripts", "text")
    assert sorted(transcripts) == ["A: newer words", "A: newest words"]
    assert sorted(rows.seen_ids) == ["a", "b"]
    assert rows.counts == {"meetings": 2, "transcripts": 2}


def test_a_record_fixed_on_a_later_page_leaves_quarantine_and_the_reverse() -> None:
    broken_then_fixed = [page({"id": "a", "date": "garbage"}), page(meeting("a"))]
    rows = merge_pages([broken_then_fixed], "meetings", known={})
    assert column(rows, "meetings", "id") == ["a"]
    assert "quarantine" not in rows.tables
    fixed_then_broken = [page(meeting("a")), page({"id": "a", "date": "garbage"})]
    rows = merge_pages([fixed_then_broken], "meetings", known={})
    assert column(rows, "quarantine", "record_id") == ["a"]
    assert "meetings" not in rows.tables and "transcripts" not in rows.tables


def test_records_without_an_id_count_from_the_last_read_only() -> None:
    first = [page(meeting(None), meeting("a"))]
    second = [page(meeting("a"))]
    rows = merge_pages([first, second], "meetings", known={})
    assert "quarantine" not in rows.tables
    assert rows.complete  # the last read had every id
    rows = merge_pages([second, first], "meetings", known={})
    assert column(rows, "quarantine", "record_id") == [None]
    assert not rows.complete  # a record of this window cannot be told apart


def test_unchanged_rows_are_dropped_with_their_transcripts() -> None:
    same, edited = meeting("a"), meeting("b")
    known = {"a": content_hash(same), "b": "an older hash"}
    rows = merge_pages([[page(same, edited)]], "meetings", known)
    assert column(rows, "meetings", "id") == ["b"]
    assert column(rows, "transcripts", "conversation_id") == ["b"]
    assert rows.unchanged == 1 and sorted(rows.seen_ids) == ["a", "b"]


def test_a_worker_process_shapes_a_page_exactly_as_a_thread_does() -> None:
    body = orjson.dumps({"data": [meeting("a"), {"id": "c", "date": "bad"}], "meta": {"total": 2}})
    here = shape_page(body, "meetings", WINDOW, NOW)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        there = pool.submit(shape_page, body, "meetings", WINDOW, NOW).result()
        with pytest.raises(ValueError):
            pool.submit(shape_page, b"{", "meetings", WINDOW, NOW).result()
    assert (there.records, there.total) == (here.records, here.total)
    assert there.rows.tables.keys() == here.rows.tables.keys()
    for name, table in here.rows.tables.items():
        assert there.rows.tables[name].equals(table)


def as_envelope_and_as_bare_array(*records: dict) -> tuple:
    """The same records shaped from the usual envelope (transcripts kept as sent, parsed only for
    the transcript row) and from a bare array (parsed whole): both must give the same rows."""
    envelope = orjson.dumps({"data": list(records), "meta": {"total": len(records)}})
    bare = orjson.dumps(list(records))
    return (
        shape_page(envelope, "meetings", WINDOW, NOW).rows,
        shape_page(bare, "meetings", WINDOW, NOW).rows,
    )


UNUSUAL_TRANSCRIPTS = {
    "numbers as speakers": [{"speaker": 7, "text": "seven speaks"}, {"text": None}],
    "empty": [],
    "null": None,
    "text not a string": [{"speaker": "A", "text": ["not", "text"]}],
    "segment not an object": ["hello"],
    "an object, not a list": {"speaker": "A", "text": "hi"},
    "extra segment fields": [{"speaker": "A", "text": "hi", "sentiment": {"score": 0.5}}],
}


@pytest.mark.parametrize("transcript", UNUSUAL_TRANSCRIPTS.values(), ids=UNUSUAL_TRANSCRIPTS)
def test_transcripts_kept_as_sent_shape_exactly_as_parsed_ones(transcript) -> None:
    record = {**meeting("a"), "transcript": transcript}
    without = {key: value for key, value in meeting("b").items() if key != "transcript"}
    fast, general = as_envelope_and_as_bare_array(record, without, meeting("c"))
    assert fast.tables.keys() == general.tables.keys()
    for name, table in general.tables.items():
        assert fast.tables[name].equals(table), name
    assert fast.seen_ids == general.seen_ids == ["a", "b", "c"]


def test_a_bad_transcript_is_quarantined_with_its_reason_and_the_record_as_sent() -> None:
    record = {**meeting("a"), "transcript": [{"speaker": "A", "text": 42}]}
    fast, _ = as_envelope_and_as_bare_array(record)
    assert column(fast, "quarantine", "reason") == ["a transcript segment's text is not a string"]
    assert orjson.loads(column(fast, "quarantine", "raw_json")[0]) == record
    assert "meetings" not in fast.tables and "transcripts" not in fast.tables


def test_a_field_the_contract_does_not_name_is_kept_whichever_way_the_page_is_read() -> None:
    record = {**meeting("a"), "sentimentScore": 0.8}
    fast, general = as_envelope_and_as_bare_array(record, meeting("b"))
    assert column(fast, "meetings", "sentiment_score") == [0.8, None]
    assert fast.tables["meetings"].equals(general.tables["meetings"])
