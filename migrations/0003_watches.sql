-- Watching (issue 22): a target audited again every `every_ms`, its
-- memory of what runs saw (src/watch.rs, JSON), and one row per run.
CREATE TABLE watches (
    id          TEXT PRIMARY KEY,          -- 32 hex digits, random
    target      TEXT NOT NULL UNIQUE,      -- the domain, normalised
    request     TEXT NOT NULL,             -- the audit request (canonical JSON: ips, checks)
    every_ms    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,           -- Unix milliseconds
    next_run    BIGINT NOT NULL,           -- Unix milliseconds: due from then
    memory      TEXT NOT NULL,             -- what the runs saw (JSON)
    runs        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX watches_by_next_run ON watches (next_run);

CREATE TABLE watch_runs (
    watch_id    TEXT NOT NULL,
    audit_id    TEXT NOT NULL,             -- its report, in audits/reports
    ran_at      BIGINT NOT NULL,           -- Unix milliseconds
    verdict     TEXT NOT NULL,             -- as audits.verdict
    score       BIGINT NOT NULL,           -- 0-10
    errors      BIGINT NOT NULL,
    warnings    BIGINT NOT NULL,
    unknown     BIGINT NOT NULL,           -- checks that could not reach a verdict
    alerts      TEXT NOT NULL,             -- the alerts it confirmed (JSON array)
    PRIMARY KEY (watch_id, audit_id)
);
CREATE INDEX watch_runs_by_time ON watch_runs (watch_id, ran_at);

ALTER TABLE audits ADD COLUMN watch_id TEXT;
