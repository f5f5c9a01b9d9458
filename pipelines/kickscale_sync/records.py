"""From raw API records to warehouse rows: validate, shape, hash, or set aside with a reason."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from kickscale_sync import settings as api
from kickscale_sync.client import split_page

TRANSCRIPTS_TABLE = "transcripts"
QUARANTINE_TABLE = "quarantine"

# Typed columns of the conversation tables. Lists and free-form objects are JSON columns: one row
# per conversation, queryable with DuckDB's JSON functions, and no child tables to join.
_COMMON_COLUMNS: dict[str, str] = {
    "id": "text",
    "name": "text",
    "date": "timestamp",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "client_id": "text",
    "duration": "bigint",
    "language": "text",
    "summary": "text",
    "email_draft": "text",
    "outcome": "text",
    "rating": "double",
    "recording_consent": "text",
    "recording_ref": "text",
    "metrics__speak_ratio": "double",
    "metrics__questions": "bigint",
    "metrics__patience": "double",
    "metrics__words_per_minute": "double",
    "metrics__longest_monologue": "double",
    "type__id": "text",
    "type__name": "text",
    "user__id": "text",
    "user__email": "text",
    "user__first_name": "text",
    "user__last_name": "text",
    "crm_reference__system": "text",
    "crm_reference__type": "text",
    "crm_reference__id": "text",
    "customer_domains": "json",
    "participants": "json",
    "action_items": "json",
    "insights": "json",
    "user_questions": "json",
    "feedback": "json",
    "comments": "json",
    "business_entities": "json",
    "content_hash": "text",
    "fetched_at": "timestamp",
    "deleted_at": "timestamp",
}
MEETING_COLUMNS = {**_COMMON_COLUMNS, "participant_emails": "json", "metadata": "json"}
CALL_COLUMNS = {
    **_COMMON_COLUMNS,
    "caller__name": "text",
    "caller__phone_number": "text",
    "caller__email": "text",
    "callee__name": "text",
    "callee__phone_number": "text",
    "callee__email": "text",
    "direction": "text",
    "external_call_id": "text",
}
TRANSCRIPT_COLUMNS = {
    "conversation_id": "text",
    "kind": "text",
    "updated_at": "timestamp",  # the conversation's version this transcript belongs to
    "segment_count": "bigint",
    "word_count": "bigint",
    "text": "text",
    "segments": "json",
}
QUARANTINE_COLUMNS = {
    "quarantine_id": "text",
    "endpoint": "text",
    "record_id": "text",
    "reason": "text",
    "window_start": "timestamp",
    "window_end": "timestamp",
    "raw_json": "text",
    "quarantined_at": "timestamp",
}
COLUMNS_BY_ENDPOINT = {"meetings": MEETING_COLUMNS, "calls": CALL_COLUMNS}

_LIST_FIELDS = {
    "customerDomains": "customer_domains",
    "participants": "participants",
    "actionItems": "action_items",
    "insights": "insights",
    "userQuestions": "user_questions",
    "feedback": "feedback",
    "comments": "comments",
    "businessEntities": "business_entities",
    "participantEmails": "participant_emails",
}
_OBJECT_FIELDS = {  # flattened into `<prefix>__<key>` columns
    "metrics": (
        "metrics",
        ("speakRatio", "questions", "patience", "wordsPerMinute", "longestMonologue"),
    ),
    "type": ("type", ("id", "name")),
    "user": ("user", ("id", "email", "firstName", "lastName")),
    "crmReference": ("crm_reference", ("system", "type", "id")),
    "caller": ("caller", ("name", "phoneNumber", "email")),
    "callee": ("callee", ("name", "phoneNumber", "email")),
}
_SCALAR_FIELDS = {
    "name": "name",
    "clientId": "client_id",
    "language": "language",
    "summary": "summary",
    "emailDraft": "email_draft",
    "outcome": "outcome",
    "recordingConsent": "recording_consent",
    "recordingRef": "recording_ref",
    "direction": "direction",
    "externalCallId": "external_call_id",
}
_NUMBER_FIELDS = ("duration", "rating")
_TIME_FIELDS = {"createdAt": "created_at", "updatedAt": "updated_at"}
_HANDLED = (
    {"id", "date", "transcript", "metadata", *_NUMBER_FIELDS, *_TIME_FIELDS}
    | set(_LIST_FIELDS)
    | set(_OBJECT_FIELDS)
    | set(_SCALAR_FIELDS)
)


class BadRecord(ValueError):
    """A record that cannot be loaded as it is; the message is the quarantine reason."""


@dataclass
class Shaped:
    """What one raw record becomes."""

    row: dict[str, Any]
    transcript: dict[str, Any] | None = None


@dataclass
class WindowRows:
    """The rows of one window, by destination table."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    complete: bool = True  # False when a record without an id was set aside: ids unknown
    # After `freeze`: the rows as compact Arrow tables by destination table, and their counts.
    tables: dict[str, pa.Table] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def nbytes(self) -> int:
        """The tables' size, once they are complete: Arrow adds up every buffer each time it is
        asked, and the read-ahead asks of every waiting window at each top-up (1.3 CPU-seconds of
        a 40k backfill)."""
        return sum(table.nbytes for table in self.tables.values())

    def __getstate__(self) -> dict[str, Any]:
        # Pickled to cross from the shaping worker: the tables as Arrow IPC streams, which pickle
        # copies once and Arrow reads back in place (pickled as tables, with the pool's protocol
        # 4, Arrow's buffers were copied over and over: ~10 ms a page of transcripts).
        return {**self.__dict__, "tables": {n: _ipc(t) for n, t in self.tables.items()}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        tables = {n: pa.ipc.open_stream(b).read_all() for n, b in state["tables"].items()}
        self.__dict__.update({**state, "tables": tables})

    def freeze(self, endpoint: str) -> None:
        """Turn the row lists into Arrow tables and drop the Python objects."""
        for table, items, spec in (
            (endpoint, self.rows, COLUMNS_BY_ENDPOINT[endpoint]),
            (TRANSCRIPTS_TABLE, self.transcripts, TRANSCRIPT_COLUMNS),
            (QUARANTINE_TABLE, self.quarantined, QUARANTINE_COLUMNS),
        ):
            if items:
                self.tables[table] = to_arrow(items, spec)
                self.counts[table] = len(items)
        self.rows, self.transcripts, self.quarantined = [], [], []


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return sink.getvalue().to_pybytes()


def parse_timestamp(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise BadRecord(f"{name} is not an ISO-8601 string: {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRecord(f"{name} is not an ISO-8601 instant: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def content_hash(record: dict[str, Any], transcript_json: bytes | None = None) -> str:
    """A hash of everything but the volatile fields: it moves only when the content does.

    The transcript (most of a record's bytes) is hashed as it is stored, `transcript_json` when
    the caller has serialised it already, rather than serialised a second time with sorted keys.
    """
    stable = {k: v for k, v in record.items() if k not in api.VOLATILE_FIELDS and k != "transcript"}
    digest = hashlib.blake2b(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS), digest_size=16)
    if "transcript" in record:
        digest.update(b"\0")
        digest.update(transcript_json or _json_bytes(record["transcript"]))
    return digest.hexdigest()


def _json_bytes(value: Any) -> bytes:
    return bytes(value) if isinstance(value, msgspec.Raw) else orjson.dumps(value)


# Latin-1 bytes that `str.split()` treats as whitespace become b" ", all others b"x".
_WORD_MARKS = bytes(32 if chr(code).isspace() else 120 for code in range(256))


def count_words(text: str) -> int:
    """`len(text.split())` without building the list: a transcript has thousands of words.

    Exact for text that fits Latin-1 (English, German, ...), where whitespace is one byte;
    other text takes `str.split` itself.
    """
    try:
        marks = text.encode("latin-1").translate(_WORD_MARKS)
    except UnicodeEncodeError:
        return len(text.split())
    return marks.count(b" x") + marks.startswith(b"x")


def shape(record: Any, endpoint: str, fetched_at: datetime) -> Shaped:
    """Validate one raw record and shape it into a row (and its transcript row)."""
    if not isinstance(record, dict):
        raise BadRecord(f"record is a {type(record).__name__}, not a JSON object")
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id.strip():
        raise BadRecord(
            "missing id" if record_id is None else f"id is not a non-empty string: {record_id!r}"
        )
    if api.DATE_FIELD not in record or record[api.DATE_FIELD] is None:
        raise BadRecord("missing date")
    row: dict[str, Any] = {"id": record_id, "date": parse_timestamp(record[api.DATE_FIELD], "date")}
    for source, column in _TIME_FIELDS.items():
        if record.get(source) is not None:
            row[column] = parse_timestamp(record[source], source)
    for source in _NUMBER_FIELDS:
        row[source] = record.get(source)
    for source, column in _SCALAR_FIELDS.items():
        if source in record:
            row[column] = _scalar(record[source], source)
    for source, column in _LIST_FIELDS.items():
        if source in record:
            row[column] = _list(record[source], source)
    for source, (prefix, keys) in _OBJECT_FIELDS.items():
        if source in record:
            row.update(_flatten(record[source], source, prefix, keys))
    if "metadata" in record:
        row["metadata"] = record["metadata"]
    for key, value in record.items():
        if key not in _HANDLED:
            row[_snake(key)] = value  # fields the contract does not name yet are kept
    _coerce(row, COLUMNS_BY_ENDPOINT[endpoint])
    transcript = _transcript_row(record, endpoint, row.get("updated_at"))
    row["content_hash"] = content_hash(record, transcript and transcript["segments"])
    row["fetched_at"] = fetched_at
    row["deleted_at"] = None
    return Shaped(row, transcript)


def _coerce(row: dict[str, Any], spec: dict[str, str]) -> None:
    """Give every value its column's type, or reject the record naming the field."""
    for column, value in row.items():
        if value is None:
            continue
        kind = spec.get(column)
        if kind is None:
            if isinstance(value, dict | list):
                row[column] = _json_text(value)
        elif kind == "json":
            row[column] = _json_text(value)
        elif kind == "text":
            if isinstance(value, dict | list):
                raise BadRecord(f"{column} is a {type(value).__name__}, expected a single value")
            row[column] = value if isinstance(value, str) else str(value)
        elif kind == "bigint":
            row[column] = _whole_number(value, column)
        elif kind == "double":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadRecord(f"{column} is not a number: {value!r}")
            row[column] = float(value)
        elif kind == "timestamp" and not isinstance(value, datetime):
            row[column] = parse_timestamp(value, column)


def _whole_number(value: Any, column: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"{column} is not a number: {value!r}")
    return value if isinstance(value, int) else round(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


_ARROW_TYPES = {
    "text": pa.string(),
    "json": pa.string(),  # JSON text; the json column hint makes DuckDB type it JSON
    "bigint": pa.int64(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def to_arrow(rows: list[dict[str, Any]], spec: dict[str, str]) -> pa.Table:
    """Rows as an Arrow table: known columns typed by `spec`, new fields typed as they come."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    arrays, fields = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        kind = spec.get(name)
        if kind is not None:
            array = pa.array(values, type=_ARROW_TYPES[kind])
        else:
            try:
                array = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: keep them as JSON text
                array = pa.array(
                    [None if v is None else _json_text(v) for v in values], pa.string()
                )
            if pa.types.is_null(array.type):
                continue  # no value yet to type the column by
        arrays.append(array)
        fields.append(pa.field(name, array.type, nullable=name not in _KEY_COLUMNS))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


_KEY_COLUMNS = frozenset({"id", "conversation_id", "quarantine_id"})


def quarantine_row(
    record: Any,
    endpoint: str,
    reason: str,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> dict[str, Any]:
    raw = orjson.dumps(_fully_parsed(record), option=orjson.OPT_SORT_KEYS)
    record_id = record.get("id") if isinstance(record, dict) else None
    return {
        "quarantine_id": hashlib.blake2b(
            endpoint.encode() + b"\0" + raw, digest_size=16
        ).hexdigest(),
        "endpoint": endpoint,
        "record_id": record_id if isinstance(record_id, str) else None,
        "reason": reason,
        "window_start": window_start,
        "window_end": window_end,
        "raw_json": raw.decode(),
        "quarantined_at": now,
    }


def _fully_parsed(record: Any) -> Any:
    """The record with a transcript kept as sent (see `shape_page`) parsed like the rest."""
    if isinstance(record, dict) and isinstance(record.get("transcript"), msgspec.Raw):
        return {**record, "transcript": orjson.loads(bytes(record["transcript"]))}
    return record


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, dict | list):
        raise BadRecord(f"{name} is a {type(value).__name__}, expected a single value")
    return value


def _list(value: Any, name: str) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRecord(f"{name} is a {type(value).__name__}, expected a list")
    return value


def _flatten(value: Any, name: str, prefix: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRecord(f"{name} is a {type(value).__name__}, expected an object")
    flat = {}
    for key in keys:
        inner = value.get(key)
        if isinstance(inner, dict | list):
            raise BadRecord(f"{name}.{key} is a {type(inner).__name__}, expected a single value")
        flat[f"{prefix}__{_snake(key)}"] = inner
    for key, inner in value.items():  # keys the contract does not name yet are kept too
        if key not in keys:
            flat[f"{prefix}__{_snake(key)}"] = inner
    return flat


class _Segment(msgspec.Struct):
    """What the transcript row needs of a segment; its other fields stay in the JSON as sent."""

    speaker: str | None = None
    text: str | None = None


_SEGMENTS = msgspec.json.Decoder(list[_Segment] | None)


def _transcript_row(
    record: dict[str, Any], endpoint: str, updated_at: datetime | None
) -> dict[str, Any] | None:
    value = record.get("transcript")
    sent = None  # the transcript's JSON as the API sent it, when `_known_records` kept it so
    if isinstance(value, msgspec.Raw):
        sent = bytes(value)
        try:
            typed = _SEGMENTS.decode(sent)  # plain segments: strings or nulls where read
        except msgspec.DecodeError:
            value = orjson.loads(sent)  # anything else: the general rules below decide
        else:
            if typed is None:
                return None
            turns = [(s.speaker, s.text) for s in typed]
            return _transcript(record, endpoint, updated_at, turns, sent)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise BadRecord("transcript is not a list of segments")
    turns = [(s.get("speaker"), s.get("text")) for s in value]
    try:
        return _transcript(record, endpoint, updated_at, turns, sent or orjson.dumps(value))
    except TypeError:
        raise BadRecord("a transcript segment's text is not a string") from None


def _transcript(
    record: dict[str, Any],
    endpoint: str,
    updated_at: datetime | None,
    turns: list[tuple[Any, Any]],
    segments_json: bytes,
) -> dict[str, Any]:
    """The transcript row of (speaker, text) turns; a text that is not a string: TypeError."""
    spoken = " ".join(said or "" for _, said in turns)
    return {
        "conversation_id": record["id"],
        "kind": endpoint[:-1],
        "updated_at": updated_at,
        "segment_count": len(turns),
        "word_count": count_words(spoken),
        "text": "\n".join(f"{speaker or 'Unknown'}: {said or ''}" for speaker, said in turns),
        "segments": segments_json,  # UTF-8 JSON; Arrow takes the bytes as a string
    }


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def shape_into(
    rows: WindowRows,
    record: Any,
    endpoint: str,
    window: tuple[datetime, datetime] | tuple[None, None],
    now: datetime,
    known: dict[str, str],
) -> None:
    """Shape one record into `rows`, or set it aside in quarantine with the reason."""
    try:
        shaped = shape(record, endpoint, now)
    except BadRecord as error:
        rows.quarantined.append(quarantine_row(record, endpoint, str(error), *window, now))
        record_id = record.get("id") if isinstance(record, dict) else None
        if isinstance(record_id, str) and record_id:
            rows.seen_ids.append(record_id)  # it exists upstream: never mark it deleted
        else:
            rows.complete = False  # some record of this window cannot be told apart
        return
    rows.seen_ids.append(shaped.row["id"])
    if known.get(shaped.row["id"]) == shaped.row["content_hash"]:
        rows.unchanged += 1
        return
    rows.rows.append(shaped.row)
    if shaped.transcript:
        rows.transcripts.append(shaped.transcript)


@dataclass
class PageRows:
    """One listing page, parsed and shaped: its rows as Arrow tables, and what paging needs."""

    rows: WindowRows
    records: int  # records on the page, good or bad
    total: Any  # `meta.total` as the server sent it (None without an envelope)


# A listing page as the contract describes it: an envelope of records with only the known fields.
# Transcripts (nine tenths of the bytes) are kept as the JSON the API sent: stored and hashed as
# they are, and parsed only for what the transcript row needs (`_transcript_row`).
_KnownRecord = msgspec.defstruct(
    "_KnownRecord",
    [
        *((name, Any, msgspec.UNSET) for name in sorted(_HANDLED - {"transcript"})),
        ("transcript", msgspec.Raw, msgspec.Raw()),
    ],
    forbid_unknown_fields=True,
)
_KnownPage = msgspec.defstruct("_KnownPage", [("data", list[_KnownRecord]), ("meta", Any, None)])
_KNOWN_PAGE = msgspec.json.Decoder(_KnownPage)
_RECORD_FIELDS = _KnownRecord.__struct_fields__


def _known_records(body: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The records of a page of the usual shape, or None: then the general parser decides.

    Anything else (a bare array, a field the contract does not name, a record that is not an
    object, a body that is not JSON) is left to `orjson` and the rules of `shape`.
    """
    try:
        page = _KNOWN_PAGE.decode(body)
    except msgspec.DecodeError:
        return None
    records = []
    for known in page.data:
        record = {}
        for name in _RECORD_FIELDS:
            value = getattr(known, name)
            if value is not msgspec.UNSET:
                record[name] = value
        if not record["transcript"]:  # empty: the record had no transcript at all
            del record["transcript"]
        records.append(record)
    return records, page.meta or {}


def shape_page(
    body: bytes, endpoint: str, window: tuple[datetime, datetime], now: datetime
) -> PageRows:
    """Parse one listing page and shape every record (runs in a worker process when there is one).

    A body that is not JSON raises a plain ValueError (it crosses process boundaries), which the
    client treats as a garbled answer and asks again.
    """
    known = _known_records(body)
    if known is None:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ValueError(str(error)) from None
        known = split_page(payload, endpoint)
    records, meta = known
    rows = WindowRows()
    for record in records:
        shape_into(rows, record, endpoint, window, now, {})
    rows.freeze(endpoint)
    return PageRows(rows=rows, records=len(records), total=meta.get("total"))
