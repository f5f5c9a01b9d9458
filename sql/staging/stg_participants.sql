-- One row per participant of a live conversation, with the domain of their email.
-- Depends on: analytics.stg_conversations
WITH exploded AS (
    SELECT
        c.conversation_id,
        unnest(from_json(c.participants, '[{"name": "VARCHAR", "email": "VARCHAR", "isInternal": "BOOLEAN"}]')) AS p
    FROM analytics.stg_conversations AS c
    WHERE c.deleted_at IS NULL
)
SELECT DISTINCT
    conversation_id,
    p.name AS participant_name,
    lower(trim(p.email)) AS email,
    coalesce(p.isInternal, false) AS is_internal,
    regexp_replace(lower(split_part(trim(p.email), '@', 2)), '^www\.', '') AS email_domain
FROM exploded
WHERE p.email IS NOT NULL AND trim(p.email) <> ''
