"""The HTTP client against the sandbox: retries, Retry-After, auth, redirects, secrecy."""

from __future__ import annotations

import logging
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from kickscale_sync.client import (
    AuthError,
    ClientConfig,
    Credentials,
    KickscaleClient,
    KickscaleError,
    RedirectRefused,
    parse_retry_after,
)
from kickscale_sync.sandbox import Faults, Sandbox


def client_for(sandbox: Sandbox, **config: object) -> KickscaleClient:
    options = {"base_url": sandbox.url, "backoff_seconds": 0.01, "max_attempts": 4, **config}
    return KickscaleClient(Credentials(sandbox.api_key, sandbox.client_id), ClientConfig(**options))


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_transient_failure_is_retried(make_sandbox) -> None:
    sandbox = make_sandbox(faults=Faults(error_rate=0.5, seed=1))
    with client_for(sandbox, max_attempts=10) as client:
        for _ in range(6):
            data, meta = client.list_page("meetings", {"pageSize": 5})
            assert len(data) == 5 and meta["pageSize"] == 5
        assert client.stats.retries > 0
        assert client.stats.statuses[200] == 6


def test_persistent_429_gives_up_with_a_clear_error(make_sandbox) -> None:
    sandbox = make_sandbox(faults=Faults(rate_limit_rate=1.0, retry_after_seconds=0))
    with client_for(sandbox) as client, pytest.raises(KickscaleError, match="after 4 attempts"):
        client.list_page("meetings", {})
    assert sandbox.stats["fault 429"] == 4


def test_retry_after_http_date_is_honoured(make_sandbox) -> None:
    sandbox = make_sandbox(
        faults=Faults(rate_limit_rate=1.0, retry_after_seconds=0, retry_after_http_date_share=1.0)
    )
    with client_for(sandbox, max_attempts=2) as client, pytest.raises(KickscaleError):
        client.list_page("meetings", {})
    assert client.stats.retries == 1


def test_client_side_rate_cap_keeps_under_the_server_limit(make_sandbox) -> None:
    sandbox = make_sandbox(faults=Faults(max_requests_per_second=10))
    with client_for(sandbox, requests_per_second=8, max_attempts=1) as client:
        for _ in range(12):
            client.list_page("meetings", {"pageSize": 1})
    assert sandbox.stats["fault 429"] == 0
    with client_for(sandbox, max_attempts=1) as uncapped, pytest.raises(KickscaleError):
        for _ in range(30):
            uncapped.list_page("meetings", {"pageSize": 1})


def test_forbidden_is_final_and_names_the_settings(sandbox: Sandbox) -> None:
    client = KickscaleClient(
        Credentials("bad-key-456", sandbox.client_id), ClientConfig(base_url=sandbox.url)
    )
    with pytest.raises(AuthError) as raised:
        client.check_credentials()
    assert "SOURCES__KICKSCALE__API_KEY" in str(raised.value)
    assert "bad-key-456" not in str(raised.value)
    assert sandbox.stats["status 403"] == 1


def test_missing_credentials_are_refused_before_any_request() -> None:
    with pytest.raises(AuthError, match="client_id"):
        KickscaleClient(Credentials("key", ""), ClientConfig(base_url="http://127.0.0.1:9"))


def test_credentials_stay_out_of_reprs_and_logs(sandbox: Sandbox, caplog) -> None:
    credentials = Credentials(sandbox.api_key, sandbox.client_id)
    assert sandbox.api_key not in repr(credentials)
    caplog.set_level(logging.DEBUG)
    with client_for(sandbox) as client:
        client.list_page("calls", {"pageSize": 1})
    assert caplog.records  # httpx and httpcore did log at debug level
    assert sandbox.api_key not in caplog.text
    assert sandbox.client_id not in caplog.text


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args: object) -> None:
        pass


def test_a_redirect_is_refused_and_nothing_reaches_the_other_host(make_sandbox) -> None:
    other = ThreadingHTTPServer(("127.0.0.2", 0), _Recorder)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        target = f"http://127.0.0.2:{other.server_address[1]}"
        sandbox = make_sandbox(faults=Faults(redirect_rate=1.0, redirect_to=target))
        with client_for(sandbox) as client, pytest.raises(RedirectRefused) as raised:
            client.list_page("meetings", {})
        assert "127.0.0.2" in str(raised.value) and "base_url" in str(raised.value)
        assert _Recorder.seen == []
    finally:
        other.shutdown()
        other.server_close()


def test_bad_parameters_are_not_retried(sandbox: Sandbox) -> None:
    with client_for(sandbox) as client, pytest.raises(KickscaleError, match="pageSize"):
        client.list_page("meetings", {"pageSize": 500})
    assert client.stats.requests == 1


def test_get_by_id_answers_none_for_404(sandbox: Sandbox) -> None:
    with client_for(sandbox) as client:
        assert client.get_by_id("meetings", "missing") is None


def test_truncated_and_reset_answers_are_retried(make_sandbox) -> None:
    sandbox = make_sandbox(faults=Faults(truncate_rate=0.4, reset_rate=0.3, seed=2))
    with client_for(sandbox, max_attempts=12) as client:
        started = time.monotonic()
        for page in range(4):
            data, _ = client.list_page("meetings", {"pageSize": 50, "page": page})
            assert len(data) == 50
        assert time.monotonic() - started < 60
    assert client.stats.retries > 0


def test_a_wrong_base_url_is_named_in_the_error(sandbox: Sandbox) -> None:
    with (
        client_for(sandbox, base_url=f"{sandbox.url}/v2") as client,
        pytest.raises(KickscaleError, match="check base_url"),
    ):
        client.list_page("meetings", {})
    with (
        client_for(sandbox, base_url="http://127.0.0.1:9", max_attempts=2) as down,
        pytest.raises(KickscaleError) as raised,
    ):
        down.list_page("meetings", {})
    assert "base_url http://127.0.0.1:9" in str(raised.value)
