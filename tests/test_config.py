"""Profiles: every shipped one loads; secrets and unknown settings are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from kickscale_sync.config import PROFILES_DIR, ConfigError, load_profile


@pytest.mark.parametrize("name", ["dev", "prod", "demo"])
def test_shipped_profiles_load(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.destination.kind in ("duckdb", "parquet")
    assert profile.sync.window.days >= 1 and profile.schedule.cron


def test_profile_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[sync]\nbackfill_start = "2024-06-01"\nwindow_days = 3\n[destination]\nkind = "parquet"\npath = "lake"\n'
    )
    profile = load_profile(str(path))
    assert profile.name == "mine" and profile.sync.window_days == 3
    assert profile.sync.backfill_start.isoformat() == "2024-06-01T00:00:00+00:00"
    assert profile.destination.kind == "parquet"


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"give one of demo, dev, prod"):
        load_profile("staging")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[kickscale]\napi_key = "abc"\n', "secret"),
        ("[sync]\nwindow_dayz = 3\n", "window_dayz"),
        ('[destination]\nkind = "postgres"\n', "destination.kind"),
        ('[sync]\nscopes = ["everyone"]\n', "scopes"),
        ('[sync]\nbackfill_start = "soon"\n', "backfill_start"),
        ("[sync\n", "not valid TOML"),
        ('[sync]\nload_mb = "lots"\n', r"\[sync\] load_mb must be a valid number.*'lots'"),
        ('[sync]\nconcurrency = "eight"\n', r"concurrency must be a valid integer"),
        ("[sync]\nconcurrency = 0\n", r"concurrency must be greater than or equal to 1, not 0"),
        ("[sync]\nread_ahead_mb = -1\n", r"read_ahead_mb must be greater than or equal to 0"),
        ("[sync]\npage_size = 500\n", r"page_size must be less than or equal to 100"),
        ('[sync]\ntranscripts = "maybe"\n', r"transcripts must be a valid boolean"),
        ("[destination]\nlock_timeout_seconds = -5\n", r"\[destination\] lock_timeout_seconds"),
        ("[schedule]\nflow_timeout_seconds = 0\n", r"\[schedule\] flow_timeout_seconds"),
        ('[destination]\nduckdb_memory_limit = "lots"\n', r"duckdb_memory_limit must be a size"),
    ],
)
def test_bad_profiles_are_refused_with_the_setting_named(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_profile(str(path))


def test_no_shipped_profile_holds_a_secret() -> None:
    for path in PROFILES_DIR.glob("*.toml"):
        text = path.read_text().lower()
        assert "api_key =" not in text and "client_id =" not in text
