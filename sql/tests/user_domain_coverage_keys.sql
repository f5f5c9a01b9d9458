-- One row per (user, domain), for known domains only.
SELECT u.user_email, u.customer_domain, 'duplicate' AS problem
FROM analytics.user_domain_coverage AS u
GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT u.user_email, u.customer_domain, 'unknown domain'
FROM analytics.user_domain_coverage AS u
ANTI JOIN analytics.domain_summary AS s USING (customer_domain)
