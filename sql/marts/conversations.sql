-- One row per live (not deleted) meeting or call.
-- Depends on: analytics.stg_conversations
SELECT
    conversation_id,          -- Kickscale id of the meeting or call
    kind,                     -- 'meeting' or 'call'
    name,                     -- title as shown in Kickscale
    started_at,               -- when the conversation started (UTC)
    duration_s,               -- length in seconds
    language,                 -- spoken language code
    len(customer_domains) = 0 AS is_internal,  -- no external participant, so no customer domain
    owner_user_id,            -- the Kickscale user who owns the recording
    owner_email,
    outcome,                  -- workspace-defined outcome, e.g. 'next_meeting', 'won'
    rating,                   -- 1-5, or NULL when not rated
    direction,                -- calls: 'inbound' or 'outbound'; NULL for meetings
    talk_ratio,               -- the owner's share of talk time, 0..1 (metrics.speakRatio)
    questions,                -- questions the owner asked
    longest_monologue_s,      -- longest uninterrupted stretch, seconds
    patience_s,               -- mean pause before answering, seconds
    words_per_minute,
    action_item_count,
    comment_count,
    has_crm_link,             -- linked to a CRM deal, company or contact
    customer_domains          -- normalised email domains of the external participants
FROM analytics.stg_conversations
WHERE deleted_at IS NULL
