"""Faults on demand, and uploads: each one observable over a real socket."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import pytest
from kickscale_sync import settings as api
from kickscale_sync.sandbox import Faults, Sandbox


def get(sandbox: Sandbox, path: str = "/meetings", **params: object) -> httpx.Response:
    return httpx.get(
        f"{sandbox.url}{path}", params=params, headers=sandbox.auth_headers, timeout=10
    )


def test_faults_are_off_by_default(sandbox: Sandbox) -> None:
    statuses = {get(sandbox, pageSize=100, page=p).status_code for p in range(5)}
    assert statuses == {200}
    assert not any(key.startswith("fault") for key in sandbox.stats)


def test_latency_is_added(make_sandbox) -> None:
    slow = make_sandbox(faults=Faults(latency_ms=300))
    started = time.perf_counter()
    assert get(slow, pageSize=1).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_rate_limit_answers_429_with_retry_after_seconds(make_sandbox) -> None:
    limited = make_sandbox(faults=Faults(rate_limit_rate=1.0, retry_after_seconds=7))
    response = get(limited)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_rate_limit_can_answer_retry_after_as_an_http_date(make_sandbox) -> None:
    limited = make_sandbox(
        faults=Faults(rate_limit_rate=1.0, retry_after_seconds=30, retry_after_http_date_share=1.0)
    )
    response = get(limited)
    moment = parsedate_to_datetime(response.headers["Retry-After"])
    assert 20 < moment.timestamp() - time.time() <= 31


def test_request_rate_cap_refuses_the_excess(make_sandbox) -> None:
    capped = make_sandbox(faults=Faults(max_requests_per_second=3))
    with httpx.Client(headers=capped.auth_headers) as client:
        statuses = [
            client.get(f"{capped.url}/meetings", params={"pageSize": 1}).status_code
            for _ in range(8)
        ]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]


def test_random_server_errors(make_sandbox) -> None:
    failing = make_sandbox(faults=Faults(error_rate=1.0))
    assert {get(failing).status_code for _ in range(12)} <= {500, 502, 503}


def test_connection_reset(make_sandbox) -> None:
    resetting = make_sandbox(faults=Faults(reset_rate=1.0))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        get(resetting)


def test_truncated_body(make_sandbox) -> None:
    truncating = make_sandbox(faults=Faults(truncate_rate=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        get(truncating, pageSize=50)
    assert truncating.stats["fault truncated"] == 1


def test_malformed_records_are_stable_per_record(make_sandbox) -> None:
    broken = make_sandbox(faults=Faults(malformed_rate=0.3, seed=5))
    first = get(broken, pageSize=100, sortingOrder="ascending").json()["data"]
    second = get(broken, pageSize=100, sortingOrder="ascending").json()["data"]
    assert first == second
    kinds = {
        "missing_id": sum("id" not in r for r in first),
        "bad_date": sum(r.get("date") == "sometime last week" for r in first),
        "wrong_type": sum(isinstance(r.get("duration"), str) for r in first),
    }
    assert all(kinds.values()), kinds
    assert 15 <= sum(kinds.values()) <= 45


def test_redirect_to_another_host(make_sandbox) -> None:
    moving = make_sandbox(faults=Faults(redirect_rate=1.0, redirect_to="http://127.0.0.2:9"))
    response = get(moving, pageSize=1)
    assert response.status_code == 307
    assert response.headers["Location"].startswith("http://127.0.0.2:9/meetings")


def test_bare_array_reading_of_the_api(make_sandbox) -> None:
    old = make_sandbox(faults=Faults(bare_array=True))
    body = get(old, pageSize=3).json()
    assert isinstance(body, list) and len(body) == 3


def test_fault_decisions_are_seeded(make_sandbox) -> None:
    def statuses(seed: int) -> list[int]:
        sandbox = make_sandbox(faults=Faults(error_rate=0.5, seed=seed))
        return [get(sandbox, pageSize=1).status_code for _ in range(16)]

    assert statuses(3) == statuses(3)
    assert statuses(3) != statuses(4)


def test_faults_do_not_touch_the_control_surface_or_swagger(make_sandbox) -> None:
    failing = make_sandbox(faults=Faults(error_rate=1.0, reset_rate=1.0))
    assert httpx.get(f"{failing.url}/swagger").status_code == 200
    assert httpx.get(f"{failing.url}/_sandbox/state").status_code == 200


# ----------------------------------------------------------------------------- uploads
def upload(
    sandbox: Sandbox,
    fields: dict[str, str],
    file: tuple | None = ("call.mp3", b"ID3" + b"\0" * 2048, "audio/mpeg"),
) -> httpx.Response:
    files = {api.UPLOAD_FILE_FIELD: file} if file else None
    return httpx.post(
        f"{sandbox.url}/calls", data=fields, files=files, headers=sandbox.auth_headers, timeout=10
    )


def good_fields(sandbox: Sandbox, **changes: str) -> dict[str, str]:
    fields = {
        "date": "2025-12-30T10:00:00Z",
        "direction": "outbound",
        "callerName": "Anna Gruber",
        "callerPhoneNumber": "+43 1 234567",
        "calleeName": "Bob Buyer",
        "calleePhoneNumber": "+49 30 765432",
        "externalCallId": "pbx-0001",
        "userEmail": sandbox.workspace.users[0]["email"],
        "customerDomain": "Globex.io",
    }
    fields.update(changes)
    return fields


def test_upload_appears_in_calls_after_the_analysis_delay(sandbox: Sandbox) -> None:
    response = upload(sandbox, good_fields(sandbox))
    assert response.status_code == 201
    call_id = response.json()["id"]
    assert get(sandbox, f"/calls/{call_id}").status_code == 404  # still being analysed
    sandbox.advance(hours=1)
    call = get(sandbox, f"/calls/{call_id}").json()
    assert call["externalCallId"] == "pbx-0001"
    assert call["direction"] == "outbound"
    assert call["customerDomains"] == ["globex.io"]
    assert call["date"] == "2025-12-30T10:00:00Z"
    listed = get(
        sandbox,
        "/calls",
        customerDomain="globex.io",
        pageSize=100,
        startDate="2025-12-30T00:00:00Z",
    ).json()
    assert call_id in [c["id"] for c in listed["data"]]
    assert sandbox.uploads[0]["file"]["size"] == 2051


@pytest.mark.parametrize(
    ("changes", "file", "status", "needle"),
    [
        ({}, None, 400, "file"),
        ({"date": ""}, ..., 400, "date"),
        ({"date": "last tuesday"}, ..., 400, "date"),
        ({"direction": "sideways"}, ..., 400, "direction"),
        ({"externalCallId": ""}, ..., 400, "externalCallId"),
        ({"userEmail": "stranger@example.com"}, ..., 400, "userEmail"),
        ({}, ("notes.txt", b"hello", "text/plain"), 400, "audio"),
    ],
)
def test_bad_uploads_are_refused_with_a_message(
    sandbox: Sandbox, changes, file, status, needle
) -> None:
    kwargs = {} if file is ... else {"file": file}
    response = upload(sandbox, good_fields(sandbox, **changes), **kwargs)
    assert response.status_code == status
    assert needle in response.json()["message"]
    assert sandbox.uploads == []


def test_too_large_upload_is_413(make_sandbox) -> None:
    small = make_sandbox(max_upload_bytes=1000)
    response = upload(small, good_fields(small), file=("big.wav", b"\0" * 5000, "audio/wav"))
    assert response.status_code == 413
    assert "too large" in response.json()["message"]


def test_upload_needs_credentials(sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{sandbox.url}/calls",
        data=good_fields(sandbox),
        files={"file": ("a.mp3", b"x", "audio/mpeg")},
    )
    assert response.status_code == 403


def test_a_short_outage_fails_the_first_requests_only(make_sandbox) -> None:
    outage = make_sandbox(faults=Faults(fail_first_requests=2))
    assert [get(outage, pageSize=1).status_code for _ in range(4)] == [503, 503, 200, 200]
