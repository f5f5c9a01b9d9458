-- One summary row per domain, whose counts agree with conversation_domains and the weekly table.
WITH expected AS (
    SELECT customer_domain, count(*) AS conversations
    FROM analytics.conversation_domains
    WHERE started_at::DATE <= getvariable('as_of')
    GROUP BY customer_domain
),
weekly AS (
    SELECT customer_domain, sum(meetings) AS meetings, sum(calls) AS calls
    FROM analytics.domain_activity_weekly
    GROUP BY customer_domain
)
SELECT s.customer_domain, s.conversations, e.conversations AS expected, w.meetings AS weekly_meetings
FROM analytics.domain_summary AS s
FULL JOIN expected AS e USING (customer_domain)
LEFT JOIN weekly AS w USING (customer_domain)
WHERE s.conversations IS DISTINCT FROM e.conversations
   OR s.meetings IS DISTINCT FROM w.meetings
   OR s.calls IS DISTINCT FROM w.calls
   OR s.meetings + s.calls <> s.conversations
   OR s.days_since_last_contact < 0
UNION ALL
SELECT customer_domain, count(*), NULL, NULL
FROM analytics.domain_summary GROUP BY customer_domain HAVING count(*) > 1
