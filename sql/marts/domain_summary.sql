-- One row per customer domain: activity, coverage and conversation quality, as of the as-of
-- date (SET VARIABLE as_of = DATE '2026-01-31'). Conversations after the as-of date are ignored.
-- Depends on: analytics.conversation_domains, analytics.stg_participants
WITH cd AS (
    SELECT * FROM analytics.conversation_domains
    WHERE started_at::DATE <= getvariable('as_of')
),
contacts AS (
    SELECT cd.customer_domain,
        count(DISTINCT p.email) FILTER (WHERE NOT p.is_internal AND p.email_domain = cd.customer_domain) AS distinct_external_contacts,
        count(DISTINCT p.email) FILTER (WHERE p.is_internal) AS distinct_internal_users
    FROM cd JOIN analytics.stg_participants AS p USING (conversation_id)
    GROUP BY cd.customer_domain
)
SELECT
    cd.customer_domain,
    min(cd.started_at) AS first_contact_at,
    max(cd.started_at) AS last_contact_at,
    date_diff('day', max(cd.started_at)::DATE, getvariable('as_of')) AS days_since_last_contact,
    count(*) FILTER (WHERE cd.kind = 'meeting') AS meetings,
    count(*) FILTER (WHERE cd.kind = 'call') AS calls,
    count(*) AS conversations,
    round(sum(cd.duration_s) / 60.0, 2) AS total_minutes,
    round(avg(cd.duration_s) / 60.0, 2) AS avg_duration_minutes,
    avg(cd.talk_ratio) AS avg_talk_ratio,                                  -- mean of per-conversation ratios
    avg(CASE WHEN cd.action_item_count > 0 THEN 1.0 ELSE 0.0 END) AS share_with_action_items,
    avg(cd.rating) AS avg_rating,                                          -- rated conversations only
    avg(CASE WHEN cd.has_crm_link THEN 1.0 ELSE 0.0 END) AS crm_linked_share,
    coalesce(any_value(contacts.distinct_external_contacts), 0) AS distinct_external_contacts,
    coalesce(any_value(contacts.distinct_internal_users), 0) AS distinct_internal_users,
    count(*) FILTER (WHERE cd.started_at::DATE > getvariable('as_of') - 30) AS conversations_last_30d,
    count(*) FILTER (
        WHERE cd.started_at::DATE > getvariable('as_of') - 60
          AND cd.started_at::DATE <= getvariable('as_of') - 30
    ) AS conversations_prior_30d,
    avg(CASE WHEN cd.direction = 'inbound' THEN 1.0 ELSE 0.0 END)
        FILTER (WHERE cd.kind = 'call') AS inbound_call_share               -- NULL without calls
FROM cd LEFT JOIN contacts USING (customer_domain)
GROUP BY cd.customer_domain
