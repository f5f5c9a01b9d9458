-- One row per customer domain and week (weeks start on Monday), from the domain's first week to
-- the as-of week; weeks without activity are present with zeros.
-- Depends on: analytics.conversation_domains
-- Columns: customer_domain, week_start (a Monday), meetings and calls started that week, and
-- minutes (their summed duration).
WITH cd AS (
    SELECT customer_domain, kind, duration_s, date_trunc('week', started_at::DATE)::DATE AS week_start
    FROM analytics.conversation_domains
    WHERE started_at::DATE <= getvariable('as_of')
),
weeks AS (
    SELECT customer_domain, unnest(generate_series(
        min(week_start),
        date_trunc('week', getvariable('as_of'))::DATE,
        INTERVAL 7 DAY
    ))::DATE AS week_start
    FROM cd
    GROUP BY customer_domain
)
SELECT
    w.customer_domain,
    w.week_start,
    count(cd.kind) FILTER (WHERE cd.kind = 'meeting') AS meetings,
    count(cd.kind) FILTER (WHERE cd.kind = 'call') AS calls,
    round(coalesce(sum(cd.duration_s), 0) / 60.0, 2) AS minutes
FROM weeks AS w
LEFT JOIN cd USING (customer_domain, week_start)
GROUP BY w.customer_domain, w.week_start
