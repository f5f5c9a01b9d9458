-- A small crafted warehouse whose every metric was worked out by hand (see test_models.py).
CREATE SCHEMA raw;
CREATE TABLE raw.meetings (
    id VARCHAR, name VARCHAR, date TIMESTAMPTZ, duration BIGINT, language VARCHAR, outcome VARCHAR,
    rating DOUBLE, user__id VARCHAR, user__email VARCHAR,
    metrics__speak_ratio DOUBLE, metrics__questions BIGINT, metrics__longest_monologue DOUBLE,
    metrics__patience DOUBLE, metrics__words_per_minute DOUBLE,
    action_items JSON, comments JSON, crm_reference__id VARCHAR, customer_domains JSON,
    participants JSON, updated_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ, _dlt_load_id VARCHAR
);
CREATE TABLE raw.calls (
    id VARCHAR, name VARCHAR, date TIMESTAMPTZ, duration BIGINT, language VARCHAR, outcome VARCHAR,
    rating DOUBLE, direction VARCHAR, user__id VARCHAR, user__email VARCHAR,
    metrics__speak_ratio DOUBLE, metrics__questions BIGINT, metrics__longest_monologue DOUBLE,
    metrics__patience DOUBLE, metrics__words_per_minute DOUBLE,
    action_items JSON, comments JSON, crm_reference__id VARCHAR, customer_domains JSON,
    participants JSON, updated_at TIMESTAMPTZ, deleted_at TIMESTAMPTZ, _dlt_load_id VARCHAR
);
INSERT INTO raw.meetings VALUES
    ('m1', 'Demo', '2026-03-30 10:00:00+00', 1800, 'en', 'next_meeting', 4, 'u-anna', 'Anna@us.com',
     0.4, 9, 120, 1.0, 140, '[{"text":"a"},{"text":"b"}]', '[{"id":"c1"}]', 'crm-1', '["acme.com"]',
     '[{"name":"Anna","email":"anna@us.com","isInternal":true},{"name":"Bob","email":"bob@acme.com","isInternal":false},{"name":"Carol","email":"Carol@Acme.com","isInternal":false}]',
     '2026-03-30 12:00:00+00', NULL, '1.0'),
    ('m2', 'Discovery', '2026-02-15 09:00:00+00', 3600, 'de', NULL, NULL, 'u-ben', 'ben@us.com',
     0.6, 4, 200, 1.5, 150, '[]', '[]', NULL, '["Acme.com", "www.Globex.io"]',
     '[{"name":"Ben","email":"ben@us.com","isInternal":true},{"name":"Anna","email":"anna@us.com","isInternal":true},{"name":"Bob","email":"bob@acme.com","isInternal":false},{"name":"Dave","email":"dave@globex.io","isInternal":false}]',
     '2026-02-15 11:00:00+00', NULL, '1.0'),
    ('m3', 'Internal sync', '2026-03-20 08:00:00+00', 900, 'en', NULL, NULL, 'u-anna', 'anna@us.com',
     0.5, 1, 60, 1.0, 130, NULL, NULL, NULL, '[]',
     '[{"name":"Anna","email":"anna@us.com","isInternal":true},{"name":"Ben","email":"ben@us.com","isInternal":true}]',
     '2026-03-20 09:00:00+00', NULL, '1.0'),
    ('m4', 'Deleted demo', '2026-03-25 10:00:00+00', 1200, 'en', NULL, 5, 'u-anna', 'anna@us.com',
     0.9, 2, 60, 1.0, 130, '[{"text":"x"}]', '[]', 'crm-9', '["acme.com"]',
     '[{"name":"Anna","email":"anna@us.com","isInternal":true},{"name":"Zed","email":"zed@acme.com","isInternal":false}]',
     '2026-03-25 11:00:00+00', '2026-03-28 00:00:00+00', '1.0'),
    ('m5', 'Freelancer', '2026-03-10 15:00:00+00', 600, 'en', NULL, NULL, 'u-ben', 'ben@us.com',
     0.3, 2, 30, 1.0, 120, '[]', '[]', NULL, '["gmail.com"]',
     '[{"name":"Ben","email":"ben@us.com","isInternal":true},{"name":"Fay","email":"fay@gmail.com","isInternal":false}]',
     '2026-03-10 16:00:00+00', NULL, '1.0');
INSERT INTO raw.calls VALUES
    ('c1', 'Inbound', '2026-03-31 09:00:00+00', 300, 'en', NULL, 2, 'inbound', 'u-anna', 'anna@us.com',
     NULL, 1, 30, 0.5, 160, '[]', '[]', NULL, '["acme.com"]',
     '[{"name":"Anna","email":"anna@us.com","isInternal":true},{"name":"Bob","email":"bob@acme.com","isInternal":false}]',
     '2026-03-31 09:30:00+00', NULL, '1.0'),
    ('c2', 'Cold call', '2026-01-05 14:00:00+00', 120, 'en', NULL, NULL, 'outbound', 'u-ben', 'ben@us.com',
     0.5, 0, 20, 0.5, 170, NULL, NULL, NULL, '["globex.io"]',
     '[{"name":"Ben","email":"ben@us.com","isInternal":true},{"name":"Eve","email":"eve@globex.io","isInternal":false},{"name":"Unknown","email":null,"isInternal":false}]',
     '2026-01-05 14:30:00+00', NULL, '1.0'),
    ('c3', 'Future', '2026-04-02 09:00:00+00', 600, 'en', NULL, NULL, 'outbound', 'u-anna', 'anna@us.com',
     0.5, 0, 20, 0.5, 170, '[]', '[]', NULL, '["acme.com"]',
     '[{"name":"Anna","email":"anna@us.com","isInternal":true}]',
     '2026-04-02 09:30:00+00', NULL, '1.0');
