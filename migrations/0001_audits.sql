-- Every request the service accepted, and where it is.
CREATE TABLE audits (
    id          TEXT PRIMARY KEY,          -- 32 hex digits, random: the permalink
    created_at  BIGINT NOT NULL,           -- Unix milliseconds
    kind        TEXT NOT NULL,             -- audit
    domain      TEXT,
    request     TEXT NOT NULL,             -- the request as accepted (canonical JSON)
    status      TEXT NOT NULL,             -- queued | running | done | failed
    verdict     TEXT,                      -- when done: listed | fix-before-sending | could-not-check | ready-to-send
    error       TEXT,                      -- why it failed
    finished_at BIGINT
);
CREATE INDEX audits_by_domain ON audits (domain, created_at);
CREATE INDEX audits_by_time ON audits (created_at);
CREATE INDEX audits_by_status ON audits (status);

-- A finished audit's report, once per report format (json, html, md, txt,
-- csv, jsonl: the formats of src/report/), made when it finished.
CREATE TABLE reports (
    id     TEXT NOT NULL,                  -- the audit's id
    format TEXT NOT NULL,                  -- the format's name (`--format`)
    body   TEXT NOT NULL,
    PRIMARY KEY (id, format)
);
