-- One row per customer domain: activity, coverage and conversation quality, as of the as-of
-- date (SET VARIABLE as_of = DATE '2026-01-31'). Conversations after the as-of date are ignored.
-- Depends on: analytics.conversation_domains, analytics.stg_participants
-- Columns:
--   customer_domain             normalised email domain of the customer
--   first_contact_at            start of the first conversation with the domain
--   last_contact_at             start of the latest conversation on or before the as-of date
--   days_since_last_contact     as-of date minus the date of last_contact_at, in days
--   meetings, calls             conversations of each kind; conversations = meetings + calls
--   total_minutes               sum of durations in minutes; avg_duration_minutes = its mean
--   avg_talk_ratio              mean of the per-conversation talk ratios (NULLs ignored)
--   share_with_action_items     share of conversations with at least one action item
--   avg_rating                  mean rating of the rated conversations (NULL when none)
--   crm_linked_share            share of conversations linked to a CRM record
--   distinct_external_contacts  distinct participant emails whose domain is this domain
--   distinct_internal_users     distinct internal participants (owners and colleagues)
--   conversations_last_30d      started in (as_of - 30 days, as_of]
--   conversations_prior_30d     started in (as_of - 60 days, as_of - 30 days]
--   inbound_call_share          share of the domain's calls that were inbound (NULL without calls)
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
