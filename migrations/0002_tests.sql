-- Test addresses (issue 21): test-<local>@<mail domain>, live until
-- expires_at; each message that arrives is an audit of kind 'received'
-- pointing back at its test.
CREATE TABLE tests (
    id          TEXT PRIMARY KEY,          -- 32 hex digits, random: the test's permalink
    local_part  TEXT NOT NULL UNIQUE,      -- test-<random>, lower case
    created_at  BIGINT NOT NULL,           -- Unix milliseconds
    expires_at  BIGINT NOT NULL            -- Unix milliseconds
);
CREATE INDEX tests_by_expiry ON tests (expires_at);

ALTER TABLE audits ADD COLUMN test_id TEXT;
CREATE INDEX audits_by_test ON audits (test_id, created_at);
