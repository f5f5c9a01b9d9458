"""The SQL models on a crafted dataset: every figure checked against a number worked out by hand.

As of 2026-03-31. acme.com: m1 (2026-03-30), m2 (2026-02-15, shared with globex.io), c1
(2026-03-31); m4 is deleted and c3 lies after the as-of date. globex.io: m2 and c2 (2026-01-05).
m3 is internal; m5's only domain is gmail.com (free mail).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from kickscale_sync.models import ModelError, build, discover

from .conftest import AS_OF, FIXTURE


def one(con: duckdb.DuckDBPyConnection, sql: str) -> dict:
    relation = con.sql(sql)
    rows = relation.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(relation.columns, rows[0], strict=True))


def test_models_build_in_dependency_order() -> None:
    order = [m.name for m in discover()]
    assert (
        order.index("stg_conversations")
        < order.index("conversations")
        < order.index("conversation_domains")
    )
    assert order.index("conversation_domains") < order.index("domain_summary")


def test_conversations(warehouse) -> None:
    ids = {
        r[0]
        for r in warehouse.execute("SELECT conversation_id FROM analytics.conversations").fetchall()
    }
    assert ids == {"m1", "m2", "m3", "m5", "c1", "c2", "c3"}  # m4 is deleted
    m2 = one(warehouse, "SELECT * FROM analytics.conversations WHERE conversation_id = 'm2'")
    assert m2["customer_domains"] == ["acme.com", "globex.io"]
    assert m2["is_internal"] is False and m2["direction"] is None
    assert m2["action_item_count"] == 0 and m2["has_crm_link"] is False and m2["rating"] is None
    m1 = one(warehouse, "SELECT * FROM analytics.conversations WHERE conversation_id = 'm1'")
    assert (
        m1["action_item_count"],
        m1["comment_count"],
        m1["has_crm_link"],
        m1["owner_email"],
    ) == (2, 1, True, "anna@us.com")
    assert (m1["talk_ratio"], m1["questions"], m1["longest_monologue_s"], m1["duration_s"]) == (
        0.4,
        9,
        120,
        1800,
    )
    assert (
        one(
            warehouse,
            "SELECT is_internal FROM analytics.conversations WHERE conversation_id = 'm3'",
        )["is_internal"]
        is True
    )
    assert (
        one(
            warehouse, "SELECT direction FROM analytics.conversations WHERE conversation_id = 'c1'"
        )["direction"]
        == "inbound"
    )


def test_conversation_domains(warehouse) -> None:
    pairs = set(
        warehouse.execute(
            "SELECT conversation_id, customer_domain FROM analytics.conversation_domains"
        ).fetchall()
    )
    assert pairs == {
        ("m1", "acme.com"), ("m2", "acme.com"), ("m2", "globex.io"),
        ("c1", "acme.com"), ("c2", "globex.io"), ("c3", "acme.com"),
    }  # fmt: skip


def test_domain_summary_for_acme(warehouse) -> None:
    acme = one(
        warehouse, "SELECT * FROM analytics.domain_summary WHERE customer_domain = 'acme.com'"
    )
    assert str(acme["first_contact_at"].date()) == "2026-02-15"
    assert str(acme["last_contact_at"].date()) == "2026-03-31"
    assert acme["days_since_last_contact"] == 0
    assert (acme["meetings"], acme["calls"], acme["conversations"]) == (2, 1, 3)
    assert float(acme["total_minutes"]) == 95.0  # (1800 + 3600 + 300) / 60
    assert float(acme["avg_duration_minutes"]) == pytest.approx(31.67, abs=0.005)
    assert acme["avg_talk_ratio"] == pytest.approx(0.5)  # mean of 0.4 and 0.6; c1 has none
    assert acme["share_with_action_items"] == pytest.approx(1 / 3)
    assert acme["avg_rating"] == pytest.approx(3.0)  # m1 4, c1 2
    assert acme["crm_linked_share"] == pytest.approx(1 / 3)
    assert acme["distinct_external_contacts"] == 2  # bob, carol (zed only in the deleted m4)
    assert acme["distinct_internal_users"] == 2  # anna, ben
    assert acme["conversations_last_30d"] == 2  # m1, c1
    assert acme["conversations_prior_30d"] == 1  # m2
    assert acme["inbound_call_share"] == pytest.approx(1.0)


def test_domain_summary_for_globex(warehouse) -> None:
    globex = one(
        warehouse, "SELECT * FROM analytics.domain_summary WHERE customer_domain = 'globex.io'"
    )
    assert globex["days_since_last_contact"] == 44  # 2026-02-15 .. 2026-03-31
    assert (globex["meetings"], globex["calls"], globex["conversations"]) == (1, 1, 2)
    assert float(globex["total_minutes"]) == 62.0 and float(globex["avg_duration_minutes"]) == 31.0
    assert globex["avg_talk_ratio"] == pytest.approx(0.55)
    assert globex["share_with_action_items"] == 0 and globex["crm_linked_share"] == 0
    assert globex["avg_rating"] is None
    assert globex["distinct_external_contacts"] == 2  # dave, eve
    assert globex["distinct_internal_users"] == 2  # ben, anna
    assert (globex["conversations_last_30d"], globex["conversations_prior_30d"]) == (0, 1)
    assert globex["inbound_call_share"] == 0


def test_free_mail_and_internal_have_no_summary(warehouse) -> None:
    domains = {
        r[0]
        for r in warehouse.execute(
            "SELECT customer_domain FROM analytics.domain_summary"
        ).fetchall()
    }
    assert domains == {"acme.com", "globex.io"}


def test_weekly_activity_has_zero_weeks(warehouse) -> None:
    rows = warehouse.execute(
        "SELECT week_start::VARCHAR, meetings, calls, minutes FROM analytics.domain_activity_weekly "
        "WHERE customer_domain = 'globex.io' ORDER BY week_start"
    ).fetchall()
    assert len(rows) == 13  # Monday 2026-01-05 .. Monday 2026-03-30
    assert rows[0] == ("2026-01-05", 0, 1, 2.0)
    assert ("2026-02-09", 1, 0, 60.0) in rows
    assert sum(r[1] + r[2] for r in rows) == 2
    acme = warehouse.execute(
        "SELECT week_start::VARCHAR, meetings, calls, minutes FROM analytics.domain_activity_weekly "
        "WHERE customer_domain = 'acme.com' ORDER BY week_start"
    ).fetchall()
    assert len(acme) == 8 and acme[0][0] == "2026-02-09"
    assert acme[-1] == ("2026-03-30", 1, 1, 35.0)


def test_user_domain_coverage(warehouse) -> None:
    rows = {
        (r[0], r[1]): r[2:]
        for r in warehouse.execute(
            "SELECT user_email, customer_domain, conversations, as_owner, days_since_last_contact "
            "FROM analytics.user_domain_coverage"
        ).fetchall()
    }
    assert rows == {
        ("anna@us.com", "acme.com"): (3, 2, 0),
        ("ben@us.com", "acme.com"): (1, 1, 44),
        ("anna@us.com", "globex.io"): (1, 0, 44),
        ("ben@us.com", "globex.io"): (2, 2, 44),
    }


def test_as_of_moves_every_date_dependent_figure(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "later.duckdb"))
    con.execute(FIXTURE.read_text())
    build(con, date(2026, 4, 30))
    acme = one(con, "SELECT * FROM analytics.domain_summary WHERE customer_domain = 'acme.com'")
    assert acme["conversations"] == 4  # c3 (2026-04-02) now counts
    assert acme["days_since_last_contact"] == 28
    # last 30 days: (Mar 31, Apr 30] holds c3; prior 30: (Mar 1, Mar 31] holds m1 and c1
    assert (acme["conversations_last_30d"], acme["conversations_prior_30d"]) == (1, 2)


def test_a_failing_data_test_fails_the_build_and_keeps_the_previous_one(warehouse) -> None:
    warehouse.execute("UPDATE raw.calls SET direction = 'sideways' WHERE id = 'c2'")
    with pytest.raises(ModelError) as raised:
        build(warehouse, AS_OF)
    message = str(raised.value)
    assert "conversations_accepted_values" in message and "sideways" in message
    kept = one(
        warehouse, "SELECT direction FROM analytics.conversations WHERE conversation_id = 'c2'"
    )
    assert kept["direction"] == "outbound"


def test_every_data_test_passes_on_good_data(warehouse) -> None:
    run = build(warehouse, AS_OF)
    assert run.tests and all(count == 0 for count in run.tests.values())
    assert run.tables["domain_summary"] == 2
