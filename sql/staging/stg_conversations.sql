-- One row per meeting or call id, typed and cleaned; deleted records are kept (deleted_at set).
-- Depends on: raw.meetings, raw.calls
WITH meetings AS (
    SELECT
        id, 'meeting' AS kind, name, date, duration, language, outcome, rating,
        NULL::VARCHAR AS direction,
        user__id, user__email,
        metrics__speak_ratio, metrics__questions, metrics__longest_monologue,
        metrics__patience, metrics__words_per_minute,
        action_items, comments, crm_reference__id, customer_domains, participants,
        updated_at, deleted_at, _dlt_load_id
    FROM raw.meetings
),
calls AS (
    SELECT
        id, 'call' AS kind, name, date, duration, language, outcome, rating,
        direction,
        user__id, user__email,
        metrics__speak_ratio, metrics__questions, metrics__longest_monologue,
        metrics__patience, metrics__words_per_minute,
        action_items, comments, crm_reference__id, customer_domains, participants,
        updated_at, deleted_at, _dlt_load_id
    FROM raw.calls
),
unioned AS (
    SELECT * FROM meetings
    UNION ALL
    SELECT * FROM calls
)
SELECT
    id AS conversation_id,
    kind,
    name,
    date AS started_at,
    duration AS duration_s,
    language,
    nullif(trim(outcome), '') AS outcome,
    rating,
    lower(direction) AS direction,
    user__id AS owner_user_id,
    lower(user__email) AS owner_email,
    metrics__speak_ratio AS talk_ratio,
    metrics__questions AS questions,
    metrics__longest_monologue AS longest_monologue_s,
    metrics__patience AS patience_s,
    metrics__words_per_minute AS words_per_minute,
    coalesce(json_array_length(action_items), 0) AS action_item_count,
    coalesce(json_array_length(comments), 0) AS comment_count,
    crm_reference__id IS NOT NULL AS has_crm_link,
    -- Domains normalised: lower case, no leading "www.", no blanks, no repeats, sorted.
    coalesce(
        list_sort(list_distinct(list_filter(
            list_transform(
                from_json(customer_domains, '["VARCHAR"]'),
                lambda d: regexp_replace(lower(trim(d)), '^www\.', '')
            ),
            lambda d: d IS NOT NULL AND d <> ''
        ))),
        []
    ) AS customer_domains,
    participants,
    updated_at,
    deleted_at
FROM unioned
-- A Parquet destination may hold several versions of a row: keep the newest.
QUALIFY row_number() OVER (
    PARTITION BY id ORDER BY _dlt_load_id DESC, updated_at DESC NULLS LAST
) = 1
