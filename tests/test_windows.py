"""Window planning: adjacent, aligned, resumable."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from kickscale_sync.windows import (
    Window,
    parse_instant,
    plan_windows,
    resume_start,
    to_wire,
)

DAY = timedelta(days=1)


def test_windows_cover_the_range_without_gaps_or_overlaps() -> None:
    start, end = datetime(2025, 1, 3, 5, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    windows = plan_windows(start, end, 7 * DAY)
    assert windows[0].start == start and windows[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(w.end - w.start <= 7 * DAY for w in windows)


def test_windows_are_aligned_so_runs_agree_on_boundaries() -> None:
    first = plan_windows(
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC), 7 * DAY
    )
    later = plan_windows(
        datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC), 7 * DAY
    )
    assert {w.end for w in first[1:-1]} >= {w.end for w in later[:-1]}


def test_empty_and_invalid_ranges() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    assert plan_windows(moment, moment, DAY) == []
    with pytest.raises(ValueError):
        plan_windows(moment, moment + DAY, timedelta(0))
    with pytest.raises(ValueError):
        Window(moment + DAY, moment)


def test_wire_format_and_parsing() -> None:
    window = Window(parse_instant("2026-03-01"), parse_instant("2026-03-08T00:00:00Z"))
    assert window.params == {"startDate": "2026-03-01T00:00:00Z", "endDate": "2026-03-08T00:00:00Z"}
    assert parse_instant("2026-03-01T10:30:00.123+01:00") == datetime(
        2026, 3, 1, 9, 30, 0, 123000, tzinfo=UTC
    )
    assert to_wire(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


def test_resume_point_uses_the_lookback_but_never_precedes_the_backfill_start() -> None:
    backfill = datetime(2025, 1, 1, tzinfo=UTC)
    assert resume_start(None, backfill, 14 * DAY) == backfill
    done = datetime(2025, 6, 1, tzinfo=UTC)
    assert resume_start(done, backfill, 14 * DAY) == done - 14 * DAY
    assert resume_start(backfill + DAY, backfill, 14 * DAY) == backfill
