-- One row per (live external conversation, customer domain); free-mail domains are left out
-- (editable list: sql/seeds/free_email_domains.csv).
-- Depends on: analytics.conversations, analytics.seed_free_email_domains
-- Columns: conversation_id, customer_domain (the key), and the conversation's kind, started_at,
-- duration_s, direction, talk_ratio, rating, action_item_count, has_crm_link and owner_email
-- (as in analytics.conversations), repeated per domain for easy aggregation.
SELECT
    c.conversation_id,
    d.customer_domain,
    c.kind,
    c.started_at,
    c.duration_s,
    c.direction,
    c.talk_ratio,
    c.rating,
    c.action_item_count,
    c.has_crm_link,
    c.owner_email
FROM analytics.conversations AS c,
    unnest(c.customer_domains) AS d(customer_domain)
WHERE NOT c.is_internal
  AND d.customer_domain NOT IN (SELECT domain FROM analytics.seed_free_email_domains)
