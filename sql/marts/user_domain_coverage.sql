-- Which internal users talk to which customer domains, how often, and when last (as of the
-- as-of date). A user counts when they took part, as owner or as an internal participant.
-- Depends on: analytics.conversation_domains, analytics.stg_participants
-- Columns: user_email and user_name (the internal participant), customer_domain, conversations
-- (meetings + calls) they took part in, as_owner (of those, the ones they own), first_contact_at,
-- last_contact_at and days_since_last_contact (as-of date minus the last contact's date).
WITH cd AS (
    SELECT * FROM analytics.conversation_domains
    WHERE started_at::DATE <= getvariable('as_of')
)
SELECT
    p.email AS user_email,
    any_value(p.participant_name) AS user_name,
    cd.customer_domain,
    count(DISTINCT cd.conversation_id) AS conversations,
    count(DISTINCT cd.conversation_id) FILTER (WHERE cd.kind = 'meeting') AS meetings,
    count(DISTINCT cd.conversation_id) FILTER (WHERE cd.kind = 'call') AS calls,
    count(DISTINCT cd.conversation_id) FILTER (WHERE cd.owner_email = p.email) AS as_owner,
    min(cd.started_at) AS first_contact_at,
    max(cd.started_at) AS last_contact_at,
    date_diff('day', max(cd.started_at)::DATE, getvariable('as_of')) AS days_since_last_contact
FROM cd JOIN analytics.stg_participants AS p USING (conversation_id)
WHERE p.is_internal
GROUP BY p.email, cd.customer_domain
