"""The command line: help, doctor, and one-line errors."""

from __future__ import annotations

import subprocess
import sys

from kickscale_sync.cli import app
from typer.testing import CliRunner

runner = CliRunner()
CLI = [sys.executable, "-m", "kickscale_sync.cli"]


def test_sandbox_help_explains_every_knob() -> None:
    result = runner.invoke(app, ["sandbox", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for knob in ("--port", "--seed", "--api-key", "--client-id", "--meetings", "--calls", "--start", "--end",
                 "--transcript-words", "--latency-ms", "--rate-limit-rate", "--retry-after", "--error-rate",
                 "--reset-rate", "--truncate-rate", "--malformed-rate", "--redirect-rate", "--max-upload-mb"):  # fmt: skip
        assert knob in result.output, knob


def test_sandbox_prints_its_credentials_and_serves(tmp_path) -> None:
    process = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--meetings", "20", "--calls", "20", "--api-key", "k1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("Kickscale sandbox on http://127.0.0.1:")
        assert "api-key: k1" in second and "client-id: sandbox-client" in second
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_doctor_says_what_is_right_and_wrong(
    sandbox, credentials_for, monkeypatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    credentials_for(sandbox)
    ok = runner.invoke(app, ["doctor", "--profile", "dev"])
    assert ok.exit_code == 0, ok.output
    assert "accepted the credentials" in ok.output and "FAIL" not in ok.output
    monkeypatch.setenv("SOURCES__KICKSCALE__CLIENT_ID", "someone-else")
    bad = runner.invoke(app, ["doctor", "--profile", "dev"])
    assert bad.exit_code == 1
    assert "FAIL Kickscale refused the credentials (HTTP 403)" in bad.output
    monkeypatch.delenv("SOURCES__KICKSCALE__API_KEY")
    missing = runner.invoke(app, ["doctor", "--profile", "dev"])
    assert "credentials missing (api_key)" in missing.output


def test_bad_flags_and_profiles_are_one_line_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad_date = subprocess.run(
        [*CLI, "sync", "--start", "last week"], capture_output=True, text=True, timeout=60
    )
    assert bad_date.returncode == 2
    assert (
        bad_date.stderr.startswith("error: --start must be a date")
        and bad_date.stderr.count("\n") == 1
    )
    bad_profile = subprocess.run(
        [*CLI, "sync", "--profile", "nope"], capture_output=True, text=True, timeout=60
    )
    assert bad_profile.returncode == 2 and "profile 'nope' not found" in bad_profile.stderr
    assert "Traceback" not in bad_profile.stderr


def test_sync_without_credentials_names_the_settings(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOURCES__KICKSCALE__API_KEY", raising=False)
    monkeypatch.delenv("SOURCES__KICKSCALE__CLIENT_ID", raising=False)
    result = runner.invoke(app, ["sync", "--profile", "dev"])
    assert result.exit_code == 1
    assert "SOURCES__KICKSCALE__API_KEY" in result.output


def test_demo_syncs_a_workspace_into_duckdb(tmp_path, monkeypatch) -> None:
    from datetime import UTC, datetime

    import duckdb
    from kickscale_sync.config import load_profile
    from kickscale_sync.demo import DEMO_QUERY, run_demo

    monkeypatch.chdir(tmp_path)
    for name in (
        "SOURCES__KICKSCALE__API_KEY",
        "SOURCES__KICKSCALE__CLIENT_ID",
        "SOURCES__KICKSCALE__BASE_URL",
    ):
        monkeypatch.setenv(name, "placeholder")  # the demo sets its own; monkeypatch restores
    lines: list[str] = []
    run_demo(
        load_profile("demo"),
        meetings=120,
        calls=80,
        days=60,
        echo=lines.append,
        today=datetime(2026, 3, 1, tzinfo=UTC),
    )
    output = "\n".join(lines)
    assert "data: " in output and "duckdb.connect" in output
    with duckdb.connect(str(tmp_path / "data" / "demo.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.meetings").fetchall()[0][0] > 100
        assert con.execute(DEMO_QUERY).fetchall()


def test_models_and_upload_errors_are_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    models = runner.invoke(app, ["models", "--profile", "dev"])
    assert models.exit_code == 1 and models.output.startswith("error: no data at ")
    upload = runner.invoke(app, ["upload", str(tmp_path / "missing.csv"), "--profile", "dev"])
    assert upload.exit_code == 1 and "manifest" in upload.output and "not found" in upload.output
    assert "Traceback" not in models.output + upload.output


def test_the_cli_module_stays_light_for_the_worker_it_spawns() -> None:
    # The shaping worker re-imports the console script's module; dlt and DuckDB there cost
    # ~100 MiB of memory in a process that only parses JSON.
    code = (
        "import sys, kickscale_sync.cli; "
        "print(sorted(m for m in ('dlt', 'duckdb', 'httpx', 'pyarrow') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
