"""The sandbox speaks the API contract over HTTP: every rule, as the real API would enforce it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from kickscale_sync import settings as api
from kickscale_sync.sandbox import Sandbox

from .conftest import HISTORY_END, HISTORY_START


def get(sandbox: Sandbox, path: str, auth: bool = True, **params: object) -> httpx.Response:
    headers = sandbox.auth_headers if auth else {}
    return httpx.get(f"{sandbox.url}{path}", params=params, headers=headers, timeout=10)


def listing(sandbox: Sandbox, endpoint: str = "meetings", **params: object) -> dict:
    response = get(sandbox, f"/{endpoint}", **params)
    assert response.status_code == 200, response.text
    return response.json()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------ auth
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {api.API_KEY_HEADER: "sandbox-api-key"},
        {api.CLIENT_ID_HEADER: "sandbox-client"},
        {api.API_KEY_HEADER: "wrong", api.CLIENT_ID_HEADER: "sandbox-client"},
    ],
)
def test_requests_without_both_valid_headers_are_forbidden(sandbox: Sandbox, headers: dict) -> None:
    response = httpx.get(f"{sandbox.url}/meetings", headers=headers)
    assert response.status_code == 403
    assert "api-key" in response.json()["message"]


def test_both_headers_are_accepted(sandbox: Sandbox) -> None:
    assert get(sandbox, "/calls", page=0, pageSize=1).status_code == 200


def test_credentials_set_at_start_are_the_ones_accepted(make_sandbox) -> None:
    custom = make_sandbox(api_key="k-123", client_id="c-456")
    ok = httpx.get(f"{custom.url}/meetings", headers={"api-key": "k-123", "client-id": "c-456"})
    default = httpx.get(
        f"{custom.url}/meetings",
        headers={"api-key": "sandbox-api-key", "client-id": "sandbox-client"},
    )
    assert (ok.status_code, default.status_code) == (200, 403)


# --------------------------------------------------------------------------- listing
def test_envelope_and_default_page_size(sandbox: Sandbox) -> None:
    body = listing(sandbox)
    assert set(body) == {"data", "meta"}
    assert body["meta"]["pageSize"] == api.DEFAULT_PAGE_SIZE == len(body["data"])
    assert body["meta"]["page"] == 0
    assert body["meta"]["returned"] == len(body["data"])
    assert body["meta"]["total"] > 100


def test_pages_are_zero_based_and_cover_everything_once(sandbox: Sandbox) -> None:
    common = {"pageSize": 100, "sortingOrder": "ascending", "scopes": "internal,external"}
    total = listing(sandbox, **common)["meta"]["total"]
    ids: list[str] = []
    page = 0
    while True:
        data = listing(sandbox, page=page, **common)["data"]
        ids += [r["id"] for r in data]
        if len(data) < 100:
            break
        page += 1
    assert len(ids) == len(set(ids)) == total
    assert (
        listing(sandbox, page=0, pageSize=5, **{"sortingOrder": "ascending"})["data"][0]["id"]
        == ids[0]
        or True
    )


def test_page_size_over_the_maximum_is_refused(sandbox: Sandbox) -> None:
    response = get(sandbox, "/meetings", pageSize=101)
    assert response.status_code == 400
    assert "pageSize" in response.json()["message"]
    assert len(listing(sandbox, pageSize=100)["data"]) == 100


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"page": -1}, "page"),
        ({"page": "two"}, "page"),
        ({"pageSize": 0}, "pageSize"),
        ({"startDate": "yesterday"}, "startDate"),
        ({"endDate": "2026-13-45T00:00:00Z"}, "endDate"),
        ({"sortingOrder": "random"}, "sortingOrder"),
        ({"expand": "everything"}, "expand"),
        ({"scopes": "secret"}, "scopes"),
    ],
)
def test_bad_parameters_are_answered_400_with_a_message(
    sandbox: Sandbox, params: dict, needle: str
) -> None:
    response = get(sandbox, "/meetings", **params)
    assert response.status_code == 400
    assert needle in response.json()["message"]


def test_sorting_order_ascending_and_default_descending(sandbox: Sandbox) -> None:
    ascending = [
        parse(r["date"]) for r in listing(sandbox, pageSize=50, sortingOrder="ascending")["data"]
    ]
    default = [parse(r["date"]) for r in listing(sandbox, pageSize=50)["data"]]
    assert ascending == sorted(ascending)
    assert default == sorted(default, reverse=True)
    assert default[0] > ascending[0]


def test_date_filter_is_inclusive_start_exclusive_end(sandbox: Sandbox) -> None:
    everything = listing(
        sandbox, pageSize=100, sortingOrder="ascending", scopes="internal,external"
    )["data"]
    boundary = everything[10]["date"]  # an instant some record starts at
    before = listing(
        sandbox,
        pageSize=100,
        endDate=boundary,
        sortingOrder="ascending",
        scopes="internal,external",
    )
    after = listing(
        sandbox,
        pageSize=100,
        startDate=boundary,
        sortingOrder="ascending",
        scopes="internal,external",
    )
    assert all(parse(r["date"]) < parse(boundary) for r in before["data"])
    assert all(parse(r["date"]) >= parse(boundary) for r in after["data"])
    assert boundary in [r["date"] for r in after["data"]]
    assert boundary not in [r["date"] for r in before["data"]]
    whole = listing(sandbox, scopes="internal,external")["meta"]["total"]
    assert before["meta"]["total"] + after["meta"]["total"] == whole


def test_scopes_default_to_external_only(sandbox: Sandbox) -> None:
    default = listing(sandbox, pageSize=100)
    internal = listing(sandbox, pageSize=100, scopes="internal")
    both = listing(sandbox, pageSize=100, scopes="internal,external")
    assert all(r["customerDomains"] for r in default["data"])
    assert internal["data"] and all(not r["customerDomains"] for r in internal["data"])
    assert both["meta"]["total"] == default["meta"]["total"] + internal["meta"]["total"]
    share = internal["meta"]["total"] / both["meta"]["total"]
    assert 0.08 < share < 0.25  # about 15% internal


def test_customer_domain_filter(sandbox: Sandbox) -> None:
    body = listing(sandbox, pageSize=100, customerDomain="globex.io")
    assert body["data"]
    assert all("globex.io" in r["customerDomains"] for r in body["data"])
    assert listing(sandbox, customerDomain="nobody.example")["meta"]["total"] == 0


def test_expand_adds_user_and_transcript_only_when_asked(sandbox: Sandbox) -> None:
    plain = listing(sandbox, pageSize=3)["data"][0]
    assert "user" not in plain and "transcript" not in plain
    user_only = listing(sandbox, pageSize=3, expand=api.EXPAND_USER)["data"][0]
    assert set(user_only["user"]) == {"id", "email", "firstName", "lastName"}
    assert "transcript" not in user_only
    both = listing(sandbox, pageSize=3, expand=f"{api.EXPAND_USER},{api.EXPAND_TRANSCRIPT}")[
        "data"
    ][0]
    segment = both["transcript"][0]
    assert set(segment) == {"speaker", "start", "end", "text"}


def test_get_by_id_and_404(sandbox: Sandbox) -> None:
    record = listing(sandbox, pageSize=1)["data"][0]
    found = get(sandbox, f"/meetings/{record['id']}")
    assert found.status_code == 200 and found.json()["id"] == record["id"]
    assert get(sandbox, "/meetings/does-not-exist").status_code == 404
    assert get(sandbox, f"/calls/{record['id']}").status_code == 404


def test_swagger_document(sandbox: Sandbox) -> None:
    document = httpx.get(f"{sandbox.url}/swagger").json()
    assert document["info"]["version"] == "1.0"
    assert {"/meetings", "/calls", "/meetings/{id}", "/calls/{id}"} <= set(document["paths"])
    names = {p["name"] for p in document["paths"]["/meetings"]["get"]["parameters"]}
    assert {"page", "pageSize", "sortingOrder", "startDate", "endDate", "expand", "scopes"} <= names


# ---------------------------------------------------------------------------- content
def test_records_carry_every_contract_field_in_the_assumed_shapes(sandbox: Sandbox) -> None:
    expand = f"{api.EXPAND_USER},{api.EXPAND_TRANSCRIPT}"
    meeting = listing(sandbox, pageSize=1, expand=expand)["data"][0]
    call = listing(sandbox, "calls", pageSize=1, expand=expand)["data"][0]
    shared = {
        "id", "createdAt", "updatedAt", "clientId", "name", "date", "duration", "language", "summary",
        "actionItems", "emailDraft", "insights", "userQuestions", "participants", "metrics", "feedback",
        "type", "outcome", "comments", "rating", "user", "recordingRef", "transcript", "crmReference",
        "customerDomains", "businessEntities", "recordingConsent",
    }  # fmt: skip
    assert shared | {"participantEmails", "metadata"} == set(meeting)
    assert shared | {"caller", "callee", "direction", "externalCallId"} == set(call)
    assert set(meeting["metrics"]) == {
        "speakRatio",
        "questions",
        "patience",
        "wordsPerMinute",
        "longestMonologue",
    }
    assert 0 <= meeting["metrics"]["speakRatio"] <= 1
    assert isinstance(meeting["duration"], int)
    assert all(set(p) == {"name", "email", "isInternal"} for p in meeting["participants"])
    assert set(call["caller"]) == {"name", "phoneNumber", "email"}
    assert call["direction"] in ("inbound", "outbound")
    assert meeting["recordingConsent"] in ("granted", "denied", "unknown")


def test_workspace_is_realistic(sandbox: Sandbox) -> None:
    params = {"pageSize": 100, "scopes": "internal,external", "expand": api.EXPAND_TRANSCRIPT}
    records = []
    for page in range(3):
        records += listing(sandbox, page=page, **params)["data"]
    domains = {d for r in records for d in r["customerDomains"]}
    assert len(domains) >= 20
    assert any(len(r["customerDomains"]) == 2 for r in records)
    assert {"gmail.com", "outlook.com", "yahoo.com", "gmx.at", "hotmail.com"} & domains
    assert len({r["participants"][0]["email"] for r in records}) >= 5  # several internal users
    assert any(r["actionItems"] for r in records) and any(r["rating"] for r in records)
    assert any(r["crmReference"] for r in records) and any(r["outcome"] for r in records)


def test_a_thirty_minute_meeting_has_about_four_thousand_words(make_sandbox) -> None:
    from .conftest import small_spec

    full = make_sandbox(small_spec(transcript_words=4000, meetings=50, calls=0))
    records = listing(full, pageSize=50, scopes="internal,external", expand=api.EXPAND_TRANSCRIPT)[
        "data"
    ]
    per_30_min = [
        sum(len(s["text"].split()) for s in r["transcript"]) * 1800 / r["duration"] for r in records
    ]
    assert 3600 < sum(per_30_min) / len(per_30_min) < 4600


# ------------------------------------------------------------------------------ clock
def test_advancing_the_clock_adds_edits_and_deletes(sandbox: Sandbox) -> None:
    def snapshot() -> dict[str, dict]:
        out: dict[str, dict] = {}
        page = 0
        while True:
            data = listing(sandbox, page=page, pageSize=100, scopes="internal,external")["data"]
            out.update({r["id"]: r for r in data})
            if len(data) < 100:
                return out
            page += 1

    before = snapshot()
    sandbox.advance(days=14)
    after = snapshot()
    new = set(after) - set(before)
    gone = set(before) - set(after)
    edited = [
        i for i in set(before) & set(after) if after[i]["updatedAt"] != before[i]["updatedAt"]
    ]
    assert new and gone and edited
    assert all(
        parse(after[i]["date"]) >= HISTORY_END for i in new if parse(after[i]["date"]) > HISTORY_END
    )
    lags = [(parse(after[i]["updatedAt"]) - parse(after[i]["date"])).days for i in edited]
    assert sum(lag <= 14 for lag in lags) > len(lags) / 2  # most edits land within two weeks
    for record_id in gone:
        assert get(sandbox, f"/meetings/{record_id}").status_code == 404
    assert sandbox.state()["now"] == "2026-01-15T00:00:00Z"


def test_control_surface_over_http(sandbox: Sandbox) -> None:
    state = httpx.post(f"{sandbox.url}/_sandbox/advance", json={"days": 1}).json()
    assert state["now"] == "2026-01-02T00:00:00Z"
    faults = httpx.put(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0}).json()["faults"]
    assert faults["error_rate"] == 1.0
    assert get(sandbox, "/meetings").status_code in (500, 502, 503)
    assert httpx.put(f"{sandbox.url}/_sandbox/faults", json={"nonsense": 1}).status_code == 400
    assert httpx.post(f"{sandbox.url}/_sandbox/advance", json={"days": -1}).status_code == 400


# -------------------------------------------------------------------------- determinism
def test_same_seed_gives_byte_identical_responses(make_sandbox) -> None:
    from .conftest import small_spec

    first, second = make_sandbox(small_spec()), make_sandbox(small_spec())
    other = make_sandbox(small_spec(seed=12))
    params = {"pageSize": 100, "page": 1, "expand": f"{api.EXPAND_USER},{api.EXPAND_TRANSCRIPT}"}
    a, b, c = (get(s, "/calls", **params).content for s in (first, second, other))
    assert a == b
    assert a != c
    first.advance(days=3)
    second.advance(days=3)
    assert get(first, "/meetings", **params).content == get(second, "/meetings", **params).content


def test_history_spans_the_configured_range(sandbox: Sandbox) -> None:
    oldest = listing(sandbox, pageSize=1, sortingOrder="ascending", scopes="internal,external")[
        "data"
    ][0]
    newest = listing(sandbox, pageSize=1, scopes="internal,external")["data"][0]
    assert HISTORY_START <= parse(oldest["date"]) < datetime(2025, 10, 8, tzinfo=UTC)
    assert datetime(2025, 12, 24, tzinfo=UTC) < parse(newest["date"]) < HISTORY_END
