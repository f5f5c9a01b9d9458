-- Every live conversation appears once, with an id.
SELECT conversation_id, count(*) AS copies
FROM analytics.conversations
GROUP BY conversation_id
HAVING count(*) > 1 OR conversation_id IS NULL
