-- kind, direction and the 0..1 talk ratio take only their documented values.
SELECT conversation_id, kind, direction, talk_ratio, rating
FROM analytics.conversations
WHERE kind NOT IN ('meeting', 'call')
   OR (kind = 'call' AND direction IS NOT NULL AND direction NOT IN ('inbound', 'outbound'))
   OR (kind = 'meeting' AND direction IS NOT NULL)
   OR talk_ratio NOT BETWEEN 0 AND 1
   OR rating NOT BETWEEN 0 AND 5
   OR started_at IS NULL
