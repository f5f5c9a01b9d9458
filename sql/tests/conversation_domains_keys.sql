-- (conversation, domain) is unique, refers to a live external conversation, and is no free-mail domain.
SELECT cd.conversation_id, cd.customer_domain, 'duplicate' AS problem
FROM analytics.conversation_domains AS cd
GROUP BY ALL HAVING count(*) > 1
UNION ALL
SELECT cd.conversation_id, cd.customer_domain, 'no such live external conversation'
FROM analytics.conversation_domains AS cd
LEFT JOIN analytics.conversations AS c USING (conversation_id)
WHERE c.conversation_id IS NULL OR c.is_internal
UNION ALL
SELECT cd.conversation_id, cd.customer_domain, 'free-mail or unnormalised domain'
FROM analytics.conversation_domains AS cd
WHERE cd.customer_domain IN (SELECT domain FROM analytics.seed_free_email_domains)
   OR cd.customer_domain <> lower(cd.customer_domain)
   OR cd.customer_domain LIKE 'www.%'
   OR cd.customer_domain IS NULL
