-- As many live conversations as live raw rows (distinct ids) in meetings and calls.
WITH raw_live AS (
    SELECT (SELECT count(DISTINCT id) FROM raw.meetings WHERE deleted_at IS NULL)
         + (SELECT count(DISTINCT id) FROM raw.calls WHERE deleted_at IS NULL) AS n
),
mart AS (SELECT count(*) AS n FROM analytics.conversations)
SELECT raw_live.n AS raw_rows, mart.n AS mart_rows
FROM raw_live, mart
WHERE raw_live.n <> mart.n
