"""Faults the sandbox injects on demand. All off by default, all seeded."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, fields
from email.utils import formatdate
from typing import Any


@dataclass(frozen=True)
class Faults:
    """Rates are probabilities per request (or per record for `malformed_rate`)."""

    seed: int = 0
    latency_ms: float = 0.0  # added to every API request
    latency_jitter_ms: float = 0.0  # plus a uniform random extra up to this
    rate_limit_rate: float = 0.0  # answer 429 at this rate
    max_requests_per_second: float = 0.0  # and whenever the client goes faster than this (0: off)
    retry_after_seconds: int = 1
    retry_after_http_date_share: float = 0.0  # share of 429s whose Retry-After is an HTTP date
    error_rate: float = 0.0  # random 500/502/503
    reset_rate: float = 0.0  # connection reset (TCP RST) instead of an answer
    truncate_rate: float = 0.0  # the body is cut short and the connection closed
    malformed_rate: float = 0.0  # records with a missing id, an unparseable date or a wrong type
    redirect_rate: float = 0.0  # 307 to another host
    redirect_to: str = "http://redirect-target.invalid"
    bare_array: bool = False  # the older reading of the API: a bare JSON array, no envelope
    fail_first_requests: int = 0  # answer the first N API requests 503: a short outage

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MALFORMATIONS = ("missing_id", "bad_date", "wrong_type")


class FaultDice:
    """Seeded decisions about which request gets which fault. Thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._window_count = 0
        self._requests_seen = 0

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < rate

    def choice(self, options: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._rng.choice(options)

    def in_outage(self) -> bool:
        with self._lock:
            self._requests_seen += 1
            return self._requests_seen <= self.faults.fail_first_requests

    def latency_seconds(self) -> float:
        jitter = self.faults.latency_jitter_ms
        extra = 0.0
        if jitter > 0:
            with self._lock:
                extra = self._rng.uniform(0, jitter)
        return (self.faults.latency_ms + extra) / 1000

    def over_request_rate(self) -> bool:
        """A one-second fixed window: more requests than the cap in it are refused."""
        cap = self.faults.max_requests_per_second
        if cap <= 0:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= 1.0:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            return self._window_count > cap

    def retry_after_value(self) -> str:
        seconds = self.faults.retry_after_seconds
        if self.roll(self.faults.retry_after_http_date_share):
            return formatdate(time.time() + seconds, usegmt=True)
        return str(seconds)

    def malformation(self, record_key: str) -> str | None:
        """Whether (and how) a record is malformed: fixed per record, so reruns see the same."""
        rate = self.faults.malformed_rate
        if rate <= 0:
            return None
        rng = random.Random(f"{self.faults.seed}:{record_key}")
        if rng.random() >= rate:
            return None
        return rng.choice(MALFORMATIONS)


def malform(record: dict, how: str) -> dict:
    broken = dict(record)
    if how == "missing_id":
        broken.pop("id", None)
    elif how == "bad_date":
        broken["date"] = "sometime last week"
    else:
        broken["duration"] = "forty minutes"
    return broken
