"""Date windows: `[start, end)` slices of `date` that a sync reads completely, one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kickscale_sync import settings as api


@dataclass(frozen=True, order=True)
class Window:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window {self.start} .. {self.end}")

    @property
    def params(self) -> dict[str, str]:
        return {api.START_DATE_PARAM: to_wire(self.start), api.END_DATE_PARAM: to_wire(self.end)}

    def __str__(self) -> str:
        return f"[{to_wire(self.start)}, {to_wire(self.end)})"


def to_wire(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(api.WIRE_DATETIME_FORMAT)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive input is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_instant(value: str) -> datetime:
    """`2026-03-01`, `2026-03-01T09:30:00Z`, fractional seconds or an offset: as aware UTC."""
    return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))


def plan_windows(start: datetime, end: datetime, size: timedelta) -> list[Window]:
    """Adjacent windows covering [start, end); the last one is cut at `end`.

    Windows are aligned to multiples of `size` since the Unix epoch, so the same instant always
    falls into the same window, whichever run planned it.
    """
    if size <= timedelta(0):
        raise ValueError("the window size must be positive")
    start, end = utc(start), utc(end)
    if end <= start:
        return []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    aligned = epoch + ((start - epoch) // size) * size
    windows = []
    cursor = start
    boundary = aligned + size
    while cursor < end:
        upper = min(boundary, end)
        windows.append(Window(cursor, upper))
        cursor, boundary = upper, boundary + size
    return windows


def resume_start(
    completed_until: datetime | None, backfill_start: datetime, lookback: timedelta
) -> datetime:
    """Where an incremental run starts: the last completed instant minus the lookback."""
    if completed_until is None:
        return utc(backfill_start)
    return max(utc(backfill_start), utc(completed_until) - lookback)
