"""Shaping raw records: typed rows, transcripts, reasons for what cannot load."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from kickscale_sync.records import (
    MEETING_COLUMNS,
    BadRecord,
    content_hash,
    count_words,
    quarantine_row,
    shape,
    to_arrow,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RECORD = {
    "id": "m-1",
    "createdAt": "2025-12-01T10:00:00.123Z",
    "updatedAt": "2025-12-02T10:00:00+01:00",
    "date": "2025-12-01T09:00:00Z",
    "duration": 1800,
    "rating": 4,
    "metrics": {
        "speakRatio": 0.4,
        "questions": 7,
        "patience": 1.2,
        "wordsPerMinute": 150,
        "longestMonologue": 90,
    },
    "customerDomains": ["acme.com"],
    "participants": [{"name": "A", "email": "a@acme.com", "isInternal": False}],
    "user": {"id": "u1", "email": "me@us.com", "firstName": "Me", "lastName": "Us"},
    "crmReference": None,
    "recordingRef": "https://example.invalid/r.mp3?token=1",
    "transcript": [
        {"speaker": "A", "start": 0, "end": 5, "text": "hello there"},
        {"speaker": "B", "start": 5, "end": 9, "text": "hi"},
    ],
    "brandNewField": {"x": 1},
}


def test_a_good_record_becomes_a_typed_row_and_a_transcript() -> None:
    shaped = shape(copy.deepcopy(RECORD), "meetings", NOW)
    row = shaped.row
    assert row["date"] == datetime(2025, 12, 1, 9, tzinfo=UTC)
    assert row["updated_at"] == datetime(2025, 12, 2, 9, tzinfo=UTC)
    assert row["rating"] == 4.0 and isinstance(row["rating"], float)
    assert row["metrics__speak_ratio"] == 0.4
    assert row["metrics__words_per_minute"] == 150.0
    assert row["user__email"] == "me@us.com"
    assert row["customer_domains"] == '["acme.com"]'
    assert row["brand_new_field"] == '{"x":1}'  # unknown fields are kept
    assert row["deleted_at"] is None and row["fetched_at"] == NOW
    transcript = shaped.transcript
    assert transcript["conversation_id"] == "m-1" and transcript["kind"] == "meeting"
    assert transcript["word_count"] == 3 and transcript["segment_count"] == 2
    assert transcript["text"] == "A: hello there\nB: hi"
    table = to_arrow([row], MEETING_COLUMNS)
    assert table.num_rows == 1 and str(table.schema.field("date").type) == "timestamp[us, tz=UTC]"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "missing id"),
        ({"id": 17}, "id is not"),
        ({"date": "sometime last week"}, "date is not an ISO-8601 instant"),
        ({"date": None}, "missing date"),
        ({"duration": "forty minutes"}, "duration is not a number"),
        ({"customerDomains": "acme.com"}, "customerDomains is a str"),
        ({"metrics": [1, 2]}, "metrics is a list"),
        ({"transcript": "hello"}, "transcript is not a list"),
        ({"updatedAt": 12345}, "updatedAt is not an ISO-8601 string"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(change: dict, reason: str) -> None:
    record = {**copy.deepcopy(RECORD), **change}
    with pytest.raises(BadRecord, match=reason):
        shape(record, "meetings", NOW)


def test_not_an_object() -> None:
    with pytest.raises(BadRecord, match="not a JSON object"):
        shape(["a"], "calls", NOW)


def test_content_hash_ignores_the_volatile_recording_link() -> None:
    other = {**RECORD, "recordingRef": "https://example.invalid/r.mp3?token=2"}
    assert content_hash(RECORD) == content_hash(other)
    assert content_hash(RECORD) != content_hash({**RECORD, "rating": 5})


def test_content_hash_sees_transcript_edits_and_matches_the_shaped_row() -> None:
    with_transcript = {**RECORD, "transcript": [{"speaker": "A", "text": "hello there"}]}
    edited = copy.deepcopy(with_transcript)
    edited["transcript"][0]["text"] = "hello here"
    assert content_hash(with_transcript) != content_hash(edited)
    assert content_hash(with_transcript) != content_hash(RECORD)
    shaped = shape(with_transcript, "meetings", NOW)
    assert shaped.row["content_hash"] == content_hash(with_transcript)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "one",
        "  two words  ",
        "tabs\tand\nnew\r\nlines\x0bvt\x0cff",
        "unit\x1fseparators\x1care\x1ewhitespace\x1dtoo",
        "Grüße aus Wien, Straße",
        "no\xa0break\x85next line",  # Latin-1 whitespace
        "em\u2003space and \u3000ideographic",  # beyond Latin-1: str.split decides
        "“curly” quotes – dashes",
    ],
)
def test_count_words_agrees_with_str_split(text: str) -> None:
    assert count_words(text) == len(text.split())


def test_quarantine_rows_are_stable_per_record() -> None:
    bad = {"date": "x"}
    first = quarantine_row(bad, "calls", "missing id", NOW, NOW, NOW)
    again = quarantine_row(dict(bad), "calls", "missing id", NOW, NOW, NOW)
    assert first["quarantine_id"] == again["quarantine_id"]
    assert first["raw_json"] == '{"date":"x"}' and first["record_id"] is None
