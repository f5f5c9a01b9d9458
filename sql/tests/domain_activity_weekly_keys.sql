-- One row per (domain, Monday) with no gaps between a domain's first week and the as-of week.
SELECT customer_domain, week_start, 'duplicate or not a Monday' AS problem
FROM analytics.domain_activity_weekly
GROUP BY ALL HAVING count(*) > 1 OR isodow(week_start) <> 1
UNION ALL
SELECT customer_domain, max(week_start), 'weeks missing'
FROM analytics.domain_activity_weekly
GROUP BY customer_domain
HAVING count(*) <> date_diff('week', min(week_start), date_trunc('week', getvariable('as_of'))::DATE) + 1
