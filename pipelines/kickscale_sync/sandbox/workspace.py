"""A seeded, deterministic synthetic Kickscale workspace, with a clock.

Only a few integers per conversation are kept in memory (date, version, timestamps, who and which
domains); the full record is rebuilt from the seed on demand and the hot ones are cached. The same
seed and spec always give the same records, byte for byte.

Each conversation schedules its own future at birth: a few late edits (most within two weeks of
its date, some later) and, rarely, its deletion. Advancing the clock creates the conversations of
the days it passes and applies the events that fall due.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from kickscale_sync.sandbox import content as c

DAY = 86_400
HOUR = 3_600
MEETING = "meetings"
CALL = "calls"
KINDS = (MEETING, CALL)


@dataclass(frozen=True)
class WorkspaceSpec:
    """Everything that determines the synthetic workspace."""

    seed: int = 7
    meetings: int = 1_000
    calls: int = 1_000
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    end: datetime = datetime(2026, 1, 1, tzinfo=UTC)  # the clock starts here
    transcript_words: int = 4_000  # words in 30 minutes of conversation
    users: int = 8
    internal_share: float = 0.15
    two_domain_share: float = 0.08
    free_mail_share: float = 0.04
    late_edit_share: float = 0.35  # conversations edited within two weeks of their date
    very_late_edit_share: float = 0.05  # ... and edited again weeks or months later
    delete_share: float = 0.01
    upload_analysis_seconds: int = 15 * 60  # an upload shows up in GET /calls after this
    client_id: str = "sandbox-client"
    company_domain: str = "northwind-sales.com"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("the workspace end must be after its start")
        if self.meetings < 0 or self.calls < 0:
            raise ValueError("record counts cannot be negative")


@dataclass
class _Profile:
    """What must be known about a conversation without building it (filters, scope)."""

    internal: bool
    domains: tuple[str, ...]
    owner: int
    duration: int


@dataclass
class _Table:
    kind: str
    dates: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    profiles: list[_Profile] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    index_of: dict[str, int] = field(default_factory=dict)
    order: list[tuple[int, int]] = field(default_factory=list)  # (date, idx), sorted
    deleted: set[int] = field(default_factory=set)
    uploads: dict[int, dict[str, Any]] = field(default_factory=dict)


def iso(ts: int | float, millis: bool = False) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts), "big"))


_ZIPF = [1 / (rank + 1) ** 1.1 for rank in range(len(c.COMPANY_DOMAINS))]
_SENTENCES = [template.format(t=topic) for template in c.SENTENCE_TEMPLATES for topic in c.TOPICS]


def _segment_pool(size: int) -> list[tuple[str, int]]:
    rng = random.Random(20260301)
    pool = []
    for _ in range(size):
        text = " ".join(rng.choices(_SENTENCES, k=rng.randint(1, 4)))
        pool.append((text, len(text.split())))
    return pool


_POOL_SIZE = 4093  # prime, so every stride visits the whole pool
_SEGMENT_POOL = _segment_pool(_POOL_SIZE)
_STRIDES = (1, 7, 13, 31, 61, 127, 251, 509)
_TEMPLATE_VARIANTS = 16
_SPEAKER_SLOT = b'"@@speaker@@"'


@lru_cache(maxsize=4096)
def _transcript_template(
    minutes: int, variant: int, speakers: int, words_per_30_min: int
) -> list[bytes]:
    """A transcript of `minutes` as JSON bytes, split where each segment's speaker goes.

    Building segment dicts for every request is the sandbox's most expensive work; templates are
    shared by all conversations of the same length and variant, and only the names differ.
    """
    duration = max(60, minutes * 60)
    target_words = duration * words_per_30_min // 1800
    rng = random.Random(f"transcript:{minutes}:{variant}:{speakers}")
    offset, stride = rng.randrange(_POOL_SIZE), rng.choice(_STRIDES)
    seconds_per_word = duration / max(1, target_words)
    segments, words, clock, turn = [], 0, 0.0, 0
    while words < target_words:
        text, count = _SEGMENT_POOL[(offset + turn * stride) % _POOL_SIZE]
        end = round(min(duration, clock + count * seconds_per_word), 1)
        segments.append({"speaker": "@@speaker@@", "start": clock, "end": end, "text": text})
        words, clock, turn = words + count, end, turn + 1
    return orjson.dumps(segments).split(_SPEAKER_SLOT)


class Workspace:
    """The synthetic data and its clock. Thread-safe."""

    def __init__(self, spec: WorkspaceSpec | None = None) -> None:
        self.spec = spec or WorkspaceSpec()
        self._lock = threading.RLock()
        self._tables = {kind: _Table(kind) for kind in KINDS}
        self._events: list[tuple[int, int, str, str, int]] = []  # (time, seq, action, kind, idx)
        self._event_seq = 0
        self._generation = 0  # moves whenever what a listing returns may have changed
        self._listings: dict[tuple, tuple[int, ...]] = {}
        self._start = int(self.spec.start.timestamp())
        self._now = int(self.spec.end.timestamp())
        self._generated_until = self._now
        self._users = [self._make_user(i) for i in range(max(1, self.spec.users))]
        self._users_by_email = {user["email"]: i for i, user in enumerate(self._users)}
        # The caches hold the hot records; their size bounds memory whatever the workspace size.
        self._record = lru_cache(maxsize=4096)(self._build_record)
        self._transcript = lru_cache(maxsize=1024)(self._build_transcript)
        for kind, count in ((MEETING, self.spec.meetings), (CALL, self.spec.calls)):
            self._seed_history(kind, count)
        self._apply_due_events()

    # ----------------------------------------------------------------------------- the clock
    @property
    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> None:
        """Move the clock forward: new conversations appear, edits and deletions fall due."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._now += int(seconds)
            self._generation += 1
            while self._generated_until < self._now:
                self._generate_day(self._generated_until)
                self._generated_until += DAY
            self._apply_due_events()

    # ---------------------------------------------------------------------------- queries
    def list_indices(
        self,
        kind: str,
        *,
        start: int | None,
        end: int | None,
        scopes: frozenset[str],
        domain: str | None,
        descending: bool,
    ) -> list[int]:
        """Visible conversations with start <= date < end, in date order."""
        with self._lock:
            key = (kind, start, end, scopes, domain, self._generation)
            picked = self._listings.get(key)
            if picked is None:
                picked = self._scan(kind, start, end, scopes, domain)
                self._listings[key] = picked
                while len(self._listings) > 64:  # paging re-asks the same filter: keep the latest
                    self._listings.pop(next(iter(self._listings)))
        return picked[::-1] if descending else list(picked)

    def _scan(
        self,
        kind: str,
        start: int | None,
        end: int | None,
        scopes: frozenset[str],
        domain: str | None,
    ) -> tuple[int, ...]:
        table = self._tables[kind]
        lo = 0 if start is None else bisect.bisect_left(table.order, (start, -1))
        hi = len(table.order) if end is None else bisect.bisect_left(table.order, (end, -1))
        return tuple(
            idx
            for _, idx in table.order[lo:hi]
            if self._visible(table, idx) and self._matches(table, idx, scopes, domain)
        )

    def find(self, kind: str, record_id: str) -> int | None:
        with self._lock:
            table = self._tables[kind]
            idx = table.index_of.get(record_id)
            if idx is None or not self._visible(table, idx):
                return None
            return idx

    def render(self, kind: str, idx: int, *, with_user: bool, with_transcript: bool) -> dict:
        """The record as the API returns it; user and transcript only when expanded."""
        with self._lock:
            table = self._tables[kind]
            version, owner = table.versions[idx], table.profiles[idx].owner
            record_id = table.ids[idx]
        record = dict(self._record(kind, idx, version))
        if with_user:
            record["user"] = self._users[owner]
        record["recordingRef"] = self._recording_ref(record_id)
        if with_transcript:
            record["transcript"] = self._transcript(kind, idx)
        return record

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                kind: {
                    "visible": sum(1 for i in range(len(t.ids)) if self._visible(t, i)),
                    "deleted": len(t.deleted),
                    "planned": len(t.ids),
                }
                for kind, t in self._tables.items()
            }

    @property
    def users(self) -> list[dict]:
        return list(self._users)

    def user_index(self, email: str) -> int | None:
        return self._users_by_email.get(email.lower())

    # ----------------------------------------------------------------------------- uploads
    def add_upload(self, meta: dict[str, Any], owner: int) -> str:
        """Store an uploaded call; it appears in GET /calls once its analysis is done."""
        with self._lock:
            table = self._tables[CALL]
            idx = len(table.ids)
            rng = _rng(self.spec.seed, "upload", idx, meta.get("externalCallId"))
            domain = meta.get("customerDomain") or None
            profile = _Profile(
                internal=domain is None,
                domains=(domain,) if domain else (),
                owner=owner,
                duration=int(meta.get("durationSeconds") or rng.randint(120, 1500)),
            )
            date = int(meta["date"])
            created = self._now + self.spec.upload_analysis_seconds
            self._append(table, idx, date, created, profile, f"upload:{idx}")
            table.uploads[idx] = dict(meta)
            self._generation += 1
            return table.ids[idx]

    # ------------------------------------------------------------------------ generation
    def _seed_history(self, kind: str, count: int) -> None:
        rng = _rng(self.spec.seed, kind, "history")
        span = self._now - self._start
        dates = sorted(self._business_time(rng, self._start, span) for _ in range(count))
        table = self._tables[kind]
        for date in dates:
            self._birth(table, len(table.ids), date)

    def _generate_day(self, day_start: int) -> None:
        span_days = max(1.0, (int(self.spec.end.timestamp()) - self._start) / DAY)
        for kind, total in ((MEETING, self.spec.meetings), (CALL, self.spec.calls)):
            rng = _rng(self.spec.seed, kind, "day", day_start)
            rate = total / span_days
            count = _poisson(rng, rate)
            table = self._tables[kind]
            for date in sorted(self._business_time(rng, day_start, DAY) for _ in range(count)):
                self._birth(table, len(table.ids), date)

    def _birth(self, table: _Table, idx: int, date: int) -> None:
        rng = _rng(self.spec.seed, table.kind, idx, "profile")
        profile = self._make_profile(rng, table.kind)
        analysed = date + profile.duration + rng.randint(10 * 60, 3 * HOUR)
        self._append(table, idx, date, analysed, profile, None)
        self._schedule_future(rng, table.kind, idx, analysed)

    def _append(
        self, table: _Table, idx: int, date: int, created: int, profile: _Profile, salt: str | None
    ) -> None:
        record_id = str(uuid.UUID(bytes=_digest(self.spec.seed, table.kind, idx, salt), version=4))
        table.ids.append(record_id)
        table.index_of[record_id] = idx
        table.dates.append(date)
        table.created.append(created)
        table.updated.append(created)
        table.versions.append(0)
        table.profiles.append(profile)
        bisect.insort(table.order, (date, idx))

    def _schedule_future(self, rng: random.Random, kind: str, idx: int, analysed: int) -> None:
        if rng.random() < self.spec.late_edit_share:
            self._push(analysed + rng.randint(HOUR, 13 * DAY), "edit", kind, idx)
            if rng.random() < 0.3:
                self._push(analysed + rng.randint(2 * HOUR, 6 * DAY), "edit", kind, idx)
        if rng.random() < self.spec.very_late_edit_share:
            self._push(analysed + rng.randint(15 * DAY, 120 * DAY), "edit", kind, idx)
        if rng.random() < self.spec.delete_share:
            self._push(analysed + rng.randint(DAY, 60 * DAY), "delete", kind, idx)

    def _push(self, when: int, action: str, kind: str, idx: int) -> None:
        self._event_seq += 1
        heapq.heappush(self._events, (when, self._event_seq, action, kind, idx))

    def _apply_due_events(self) -> None:
        while self._events and self._events[0][0] <= self._now:
            when, _, action, kind, idx = heapq.heappop(self._events)
            table = self._tables[kind]
            if idx in table.deleted:
                continue
            if action == "edit":
                table.versions[idx] += 1
                table.updated[idx] = when
            else:
                table.deleted.add(idx)

    def _business_time(self, rng: random.Random, start: int, span: int) -> int:
        """A moment in [start, start + span), mostly on weekdays between 07:00 and 18:00 UTC."""
        for _ in range(8):
            moment = start + rng.randrange(max(1, span))
            day_start = moment - moment % DAY
            weekday = datetime.fromtimestamp(day_start, UTC).weekday()
            if weekday >= 5 and rng.random() > 0.1:
                continue
            hour = 7 + int(rng.betavariate(2, 2) * 11)
            candidate = day_start + hour * HOUR + rng.randrange(0, 60) * 60
            if start <= candidate < start + span:
                return candidate
        return start + rng.randrange(max(1, span))

    def _make_profile(self, rng: random.Random, kind: str) -> _Profile:
        internal = rng.random() < self.spec.internal_share
        domains: tuple[str, ...] = ()
        if not internal:
            first = self._pick_domain(rng)
            domains = (first,)
            if rng.random() < self.spec.two_domain_share:
                second = self._pick_domain(rng)
                if second != first:
                    domains = (first, second)
        if kind == MEETING:
            duration = int(min(90, max(5, rng.lognormvariate(math.log(30), 0.4))) * 60)
        else:
            duration = int(min(40, max(0.5, rng.lognormvariate(math.log(6), 0.7))) * 60)
        return _Profile(internal, domains, rng.randrange(len(self._users)), duration)

    def _pick_domain(self, rng: random.Random) -> str:
        if rng.random() < self.spec.free_mail_share:
            return rng.choice(c.FREE_MAIL_DOMAINS)
        return rng.choices(c.COMPANY_DOMAINS, weights=_ZIPF)[0]

    def _make_user(self, i: int) -> dict:
        rng = _rng(self.spec.seed, "user", i)
        first, last = rng.choice(c.FIRST_NAMES), rng.choice(c.LAST_NAMES)
        handle = f"{first}.{last}".lower().replace("ü", "ue")
        return {
            "id": str(uuid.UUID(bytes=_digest(self.spec.seed, "user", i), version=4)),
            "email": f"{handle}{i}@{self.spec.company_domain}",
            "firstName": first,
            "lastName": last,
        }

    # ---------------------------------------------------------------------------- records
    def _visible(self, table: _Table, idx: int) -> bool:
        return table.created[idx] <= self._now and idx not in table.deleted

    @staticmethod
    def _matches(table: _Table, idx: int, scopes: frozenset[str], domain: str | None) -> bool:
        profile = table.profiles[idx]
        if ("internal" if profile.internal else "external") not in scopes:
            return False
        return domain is None or domain in profile.domains

    def _recording_ref(self, record_id: str) -> str:
        # A signed URL valid for two days: it changes every day, like the real one.
        expires = self._now - self._now % DAY + 2 * DAY
        token = _digest(self.spec.seed, record_id, expires).hex()[:24]
        return f"https://recordings.sandbox.kickscale.invalid/{record_id}.mp3?expires={expires}&token={token}"

    def _build_record(self, kind: str, idx: int, version: int) -> dict:
        table = self._tables[kind]
        profile = table.profiles[idx]
        upload = table.uploads.get(idx)
        rng = _rng(self.spec.seed, kind, idx, "content")
        topic = rng.choice(c.TOPICS)
        owner = self._users[profile.owner]
        externals = self._external_people(rng, profile.domains)
        others = [u for i, u in enumerate(self._users) if i != profile.owner]
        colleagues = rng.sample(others, min(len(others), rng.randint(0, 2)))
        participants = [{"name": _full(owner), "email": owner["email"], "isInternal": True}]
        participants += [
            {"name": _full(u), "email": u["email"], "isInternal": True} for u in colleagues
        ]
        participants += [{"name": n, "email": e, "isInternal": False} for n, e in externals]
        if profile.internal:
            type_id, type_name = rng.choice(c.INTERNAL_MEETING_TYPES)
        elif kind == CALL:
            type_id, type_name = rng.choice(c.CALL_TYPES)
        else:
            type_id, type_name = rng.choice(c.MEETING_TYPES)
        company = (
            profile.domains[0].split(".")[0].replace("-", " ").title() if profile.domains else None
        )
        name = f"{type_name} with {company}" if company else f"{type_name}: {topic}"
        record: dict[str, Any] = {
            "id": table.ids[idx],
            "createdAt": iso(table.created[idx], millis=True),
            "updatedAt": iso(table.updated[idx], millis=True),
            "clientId": self.spec.client_id,
            "name": name,
            "date": iso(table.dates[idx]),
            "duration": profile.duration,
            "language": rng.choice(c.LANGUAGES),
            "summary": " ".join(t.format(t=topic) for t in rng.sample(c.SUMMARY_TEMPLATES, 2)),
            "actionItems": [
                {"text": t.format(t=topic), "owner": rng.choice([owner["email"], None])}
                for t in rng.sample(c.ACTION_TEMPLATES, rng.choice((0, 1, 1, 2, 3)))
            ],
            "emailDraft": f"Hi,\n\nthank you for the conversation about {topic}. "
            "As promised, here is a short summary and the next steps.\n\nBest regards,\n"
            f"{owner['firstName']}",
            "insights": [
                {
                    "category": cat,
                    "text": f"Mentioned {topic} in the context of {cat.replace('_', ' ')}.",
                }
                for cat in rng.sample(c.INSIGHT_CATEGORIES, rng.randint(0, 3))
            ],
            "userQuestions": [
                q.format(t=topic) for q in rng.sample(c.QUESTION_TEMPLATES, rng.randint(0, 3))
            ],
            "participants": participants,
            "metrics": {
                "speakRatio": round(min(0.95, max(0.1, rng.gauss(0.48, 0.12))), 3),
                "questions": rng.randint(0, 25 if kind == MEETING else 8),
                "patience": round(rng.uniform(0.3, 2.5), 2),
                "wordsPerMinute": round(rng.gauss(145, 18), 1),
                "longestMonologue": rng.randint(20, min(600, max(21, profile.duration // 3))),
            },
            "feedback": [],
            "type": {"id": type_id, "name": type_name},
            "outcome": None,
            "comments": [],
            "rating": None,
            "crmReference": None,
            "customerDomains": list(profile.domains),
            "businessEntities": [
                {
                    "type": rng.choice(c.ENTITY_TYPES),
                    "id": f"be-{rng.randrange(1000):04d}",
                    "name": n,
                }
                for n in rng.sample(c.ENTITY_NAMES, rng.randint(0, 2))
            ],
            "recordingConsent": rng.choices(("granted", "denied", "unknown"), (0.85, 0.03, 0.12))[
                0
            ],
        }
        if kind == MEETING:
            record["participantEmails"] = [p["email"] for p in participants if p["email"]]
            record["metadata"] = {
                "source": rng.choice(c.MEETING_SOURCES),
                "meetingUrlHost": "video",
            }
        else:
            record.update(self._call_fields(rng, idx, owner, externals, upload))
        self._apply_analysis(record, kind, idx, version, topic, owner)
        return record

    def _call_fields(
        self, rng: random.Random, idx: int, owner: dict, externals: list, upload: dict | None
    ) -> dict[str, Any]:
        if upload:
            return {
                "caller": {
                    "name": upload.get("callerName"),
                    "phoneNumber": upload.get("callerPhoneNumber"),
                    "email": None,
                },
                "callee": {
                    "name": upload.get("calleeName"),
                    "phoneNumber": upload.get("calleePhoneNumber"),
                    "email": None,
                },
                "direction": upload["direction"],
                "externalCallId": upload["externalCallId"],
            }
        direction = rng.choice(("outbound", "outbound", "inbound"))
        ours = {"name": _full(owner), "phoneNumber": _phone(rng, "+43"), "email": owner["email"]}
        other_name, other_email = externals[0] if externals else ("Unknown", None)
        theirs = {"name": other_name, "phoneNumber": _phone(rng, "+49"), "email": other_email}
        caller, callee = (ours, theirs) if direction == "outbound" else (theirs, ours)
        dialer = rng.choice(c.DIALERS)
        return {
            "caller": caller,
            "callee": callee,
            "direction": direction,
            "externalCallId": f"{dialer}-{rng.randrange(10**9):09d}",
        }

    def _external_people(
        self, rng: random.Random, domains: tuple[str, ...]
    ) -> list[tuple[str, str | None]]:
        people = []
        for domain in domains:
            for _ in range(rng.choice((1, 1, 2, 3))):
                first, last = rng.choice(c.FIRST_NAMES), rng.choice(c.LAST_NAMES)
                email = f"{first[0]}.{last}@{domain}".lower().replace("ü", "ue")
                people.append((f"{first} {last}", email if rng.random() > 0.05 else None))
        return people

    def _apply_analysis(
        self, record: dict, kind: str, idx: int, version: int, topic: str, owner: dict
    ) -> None:
        """The parts that late edits change: feedback, outcome, comments, rating, CRM link."""
        rng = _rng(self.spec.seed, kind, idx, "analysis", version)
        record["feedback"] = [
            {"criterion": k, "score": rng.randint(3, 10)}
            for k in c.FEEDBACK_CRITERIA[: 3 + version % 3]
        ]
        if not record["customerDomains"]:
            return
        record["outcome"] = rng.choice(c.OUTCOMES) if version or rng.random() < 0.5 else None
        record["rating"] = rng.choice((None, 3, 4, 4.5, 5, 2)) if version else None
        record["comments"] = [
            {
                "id": f"c-{idx}-{n}",
                "text": rng.choice(c.COMMENT_TEMPLATES).format(t=topic),
                "createdAt": record["updatedAt"],
                "author": owner["email"],
            }
            for n in range(min(version, 3))
        ]
        if version and rng.random() < 0.7:
            record["crmReference"] = {
                "system": rng.choice(c.CRM_SYSTEMS),
                "type": rng.choice(c.CRM_TYPES),
                "id": str(rng.randrange(10**8, 10**9)),
            }

    def _build_transcript(self, kind: str, idx: int) -> orjson.Fragment:
        """The transcript as JSON: a shared template for its length, with its own speakers."""
        profile = self._tables[kind].profiles[idx]
        rng = _rng(self.spec.seed, kind, idx, "transcript")
        speakers = [_full(self._users[profile.owner])] + [
            f"{rng.choice(c.FIRST_NAMES)} {rng.choice(c.LAST_NAMES)}"
            for _ in range(rng.randint(1, 2))
        ]
        variant = rng.randrange(_TEMPLATE_VARIANTS)
        chunks = _transcript_template(
            profile.duration // 60, variant, len(speakers), self.spec.transcript_words
        )
        names = [orjson.dumps(name) for name in speakers]
        # chunks[0] opens the list; every later chunk follows the speaker of one segment.
        parts = [chunks[0]]
        for turn, chunk in enumerate(chunks[1:]):
            parts.append(names[turn % len(names)])
            parts.append(chunk)
        return orjson.Fragment(b"".join(parts))


def _poisson(rng: random.Random, rate: float) -> int:
    if rate > 30:
        return max(0, round(rng.gauss(rate, math.sqrt(rate))))
    threshold, count, product = math.exp(-rate), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _full(user: dict) -> str:
    return f"{user['firstName']} {user['lastName']}"


def _phone(rng: random.Random, prefix: str) -> str:
    return f"{prefix} {rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}"
