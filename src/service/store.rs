//! Where the service keeps every request it accepted and every report it
//! made: SQLite in the data directory by default (embedded, nothing to
//! set up), PostgreSQL for several instances behind one load balancer. One
//! schema (`migrations/`, applied at start) through sqlx's `Any` driver,
//! so both run the same statements.

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

/// Where an audit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Queued,
    Running,
    Done,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "running" => State::Running,
            "done" => State::Done,
            "failed" => State::Failed,
            _ => State::Queued,
        }
    }
}

/// One stored audit.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub created_at: i64,
    pub kind: String,
    pub domain: Option<String>,
    pub request: String,
    pub state: State,
    pub verdict: Option<String>,
    pub error: Option<String>,
}

/// A line of the list of audits.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub created_at: i64,
    pub domain: Option<String>,
    pub state: State,
    pub verdict: Option<String>,
}

/// A test address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRow {
    pub id: String,
    pub local_part: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn test_row(r: &sqlx::any::AnyRow) -> TestRow {
    TestRow {
        id: r.get("id"),
        local_part: r.get("local_part"),
        created_at: r.get("created_at"),
        expires_at: r.get("expires_at"),
    }
}

fn listed(r: &sqlx::any::AnyRow) -> Listed {
    Listed {
        id: r.get("id"),
        created_at: r.get("created_at"),
        domain: r.get("domain"),
        state: State::parse(&r.get::<String, _>("status")),
        verdict: r.get("verdict"),
    }
}

/// A watched target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRow {
    pub id: String,
    pub target: String,
    /// The audit request (canonical JSON).
    pub request: String,
    pub every_ms: i64,
    pub created_at: i64,
    pub next_run: i64,
    /// What the runs saw (`watch::Memory`, JSON).
    pub memory: String,
    pub runs: i64,
}

fn watch_row(r: &sqlx::any::AnyRow) -> WatchRow {
    WatchRow {
        id: r.get("id"),
        target: r.get("target"),
        request: r.get("request"),
        every_ms: r.get("every_ms"),
        created_at: r.get("created_at"),
        next_run: r.get("next_run"),
        memory: r.get("memory"),
        runs: r.get("runs"),
    }
}

const WATCH_COLUMNS: &str = "id, target, request, every_ms, created_at, next_run, memory, runs";

/// One run of a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRun {
    pub audit_id: String,
    pub ran_at: i64,
    pub verdict: String,
    pub score: i64,
    pub errors: i64,
    pub warnings: i64,
    pub unknown: i64,
    /// The alerts it confirmed (JSON array).
    pub alerts: String,
}

/// What a store error says (the database's own words).
#[derive(Debug, thiserror::Error)]
#[error("the store: {0}")]
pub struct StoreError(String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError(e.to_string())
    }
}

/// What an audit belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    None,
    /// A message that arrived at this test address.
    Test(&'a str),
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// Opens (creating it when missing) and migrates the database at
    /// `url`: `sqlite://PATH` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_string()
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Readers beside the one writer (WAL), and a writer
                        // waits its turn instead of "database is locked".
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// The database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A new audit, queued; `owner` ties a received message to its test
    /// (a watch's run is stored whole by `store_watch_run`).
    pub async fn insert(
        &self,
        id: &str,
        created_at: i64,
        kind: &str,
        domain: Option<&str>,
        request: &str,
        owner: Owner<'_>,
    ) -> Result<(), StoreError> {
        let test_id = match owner {
            Owner::None => None,
            Owner::Test(t) => Some(t),
        };
        sqlx::query(
            "INSERT INTO audits (id, created_at, kind, domain, request, status, test_id) VALUES ($1, $2, $3, $4, $5, 'queued', $6)",
        )
        .bind(id)
        .bind(created_at)
        .bind(kind)
        .bind(domain)
        .bind(request)
        .bind(test_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets an audit that was never queued (the queue was full).
    pub async fn remove(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM audits WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_running(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE audits SET status = 'running' WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a finished audit's reports (format name, body) and marks it
    /// done, in one transaction: a reader sees all of them or none.
    pub async fn set_done(
        &self,
        id: &str,
        at: i64,
        verdict: &str,
        reports: &[(&str, String)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM reports WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (format, body) in reports {
            sqlx::query("INSERT INTO reports (id, format, body) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(*format)
                .bind(body.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE audits SET status = 'done', finished_at = $2, verdict = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(verdict)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A finished audit's report in one format (by its name).
    pub async fn report(&self, id: &str, format: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT body FROM reports WHERE id = $1 AND format = $2")
            .bind(id)
            .bind(format)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("body")))
    }

    pub async fn set_failed(&self, id: &str, at: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE audits SET status = 'failed', error = $2, finished_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let row = sqlx::query(
            "SELECT id, created_at, kind, domain, request, status, verdict, error FROM audits WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Stored {
            id: r.get("id"),
            created_at: r.get("created_at"),
            kind: r.get("kind"),
            domain: r.get("domain"),
            request: r.get("request"),
            state: State::parse(&r.get::<String, _>("status")),
            verdict: r.get("verdict"),
            error: r.get("error"),
        }))
    }

    /// The newest audits first, of `domain` when given.
    pub async fn list(&self, domain: Option<&str>, limit: i64) -> Result<Vec<Listed>, StoreError> {
        let rows = match domain {
            Some(d) => {
                sqlx::query(
                    "SELECT id, created_at, domain, status, verdict FROM audits WHERE domain = $1 ORDER BY created_at DESC, id LIMIT $2",
                )
                .bind(d)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, created_at, domain, status, verdict FROM audits ORDER BY created_at DESC, id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows.iter().map(listed).collect())
    }

    /// A new test address.
    pub async fn insert_test(&self, t: &TestRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tests (id, local_part, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&t.id)
        .bind(&t.local_part)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn test(&self, id: &str) -> Result<Option<TestRow>, StoreError> {
        let row =
            sqlx::query("SELECT id, local_part, created_at, expires_at FROM tests WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(test_row))
    }

    /// The test whose address has this local part (lower case).
    pub async fn test_by_address(&self, local_part: &str) -> Result<Option<TestRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, local_part, created_at, expires_at FROM tests WHERE local_part = $1",
        )
        .bind(local_part)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(test_row))
    }

    /// The messages a test received, newest first.
    pub async fn audits_of_test(&self, test_id: &str) -> Result<Vec<Listed>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, domain, status, verdict FROM audits WHERE test_id = $1 ORDER BY created_at DESC, id LIMIT 100",
        )
        .bind(test_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(listed).collect())
    }

    /// Audits accepted but not finished (a restart runs them), oldest
    /// first.
    pub async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM audits WHERE status IN ('queued', 'running') ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get("id")).collect())
    }

    /// Deletes finished audits made before `before` (Unix ms); how many.
    pub async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM reports WHERE id IN (SELECT id FROM audits WHERE created_at < $1 AND status IN ('done', 'failed'))",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM audits WHERE created_at < $1 AND status IN ('done', 'failed')",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        // Tests that expired before then and have no message left.
        sqlx::query(
            "DELETE FROM tests WHERE expires_at < $1 AND NOT EXISTS (SELECT 1 FROM audits WHERE audits.test_id = tests.id)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// A new watch; an error when its target is watched already.
    pub async fn insert_watch(&self, w: &WatchRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO watches (id, target, request, every_ms, created_at, next_run, memory, runs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&w.id)
        .bind(&w.target)
        .bind(&w.request)
        .bind(w.every_ms)
        .bind(w.created_at)
        .bind(w.next_run)
        .bind(&w.memory)
        .bind(w.runs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every watch, by target.
    pub async fn watches(&self) -> Result<Vec<WatchRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WATCH_COLUMNS} FROM watches ORDER BY target"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(watch_row).collect())
    }

    /// The watch with this id, or of this target.
    pub async fn watch(&self, id_or_target: &str) -> Result<Option<WatchRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WATCH_COLUMNS} FROM watches WHERE id = $1 OR target = $1"
        ))
        .bind(id_or_target)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(watch_row))
    }

    /// Forgets a watch and its history (its reports stay, as audits, until
    /// the retention removes them); whether there was one.
    pub async fn remove_watch(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM watch_runs WHERE watch_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM watches WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }

    /// The watches due at `now` (Unix ms), the longest waiting first.
    pub async fn due_watches(&self, now: i64) -> Result<Vec<WatchRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {WATCH_COLUMNS} FROM watches WHERE next_run <= $1 ORDER BY next_run, id"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(watch_row).collect())
    }

    /// Takes a due run of a watch: moves its next run from `was` to
    /// `next`, unless another instance moved it first (false then).
    pub async fn claim_watch(&self, id: &str, was: i64, next: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE watches SET next_run = $3 WHERE id = $1 AND next_run = $2")
            .bind(id)
            .bind(was)
            .bind(next)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a run of a watch and what the watch remembers after it, in
    /// one transaction.
    pub async fn record_watch_run(
        &self,
        watch_id: &str,
        run: &WatchRun,
        memory: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::watch_run_rows(&mut tx, watch_id, run, memory).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A whole run of a watch in one transaction: its audit (done, with
    /// `request` as the request and `reports` in each format), the
    /// history row and the watch's memory after it.
    #[allow(clippy::too_many_arguments)]
    pub async fn store_watch_run(
        &self,
        watch_id: &str,
        target: &str,
        started: i64,
        request: &str,
        reports: &[(&str, String)],
        run: &WatchRun,
        memory: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO audits (id, created_at, kind, domain, request, status, verdict, finished_at, watch_id) VALUES ($1, $2, 'watch', $3, $4, 'done', $5, $6, $7)",
        )
        .bind(&run.audit_id)
        .bind(started)
        .bind(target)
        .bind(request)
        .bind(&run.verdict)
        .bind(run.ran_at)
        .bind(watch_id)
        .execute(&mut *tx)
        .await?;
        for (format, body) in reports {
            sqlx::query("INSERT INTO reports (id, format, body) VALUES ($1, $2, $3)")
                .bind(&run.audit_id)
                .bind(*format)
                .bind(body.as_str())
                .execute(&mut *tx)
                .await?;
        }
        Self::watch_run_rows(&mut tx, watch_id, run, memory).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn watch_run_rows(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        watch_id: &str,
        run: &WatchRun,
        memory: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO watch_runs (watch_id, audit_id, ran_at, verdict, score, errors, warnings, unknown, alerts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(watch_id)
        .bind(&run.audit_id)
        .bind(run.ran_at)
        .bind(&run.verdict)
        .bind(run.score)
        .bind(run.errors)
        .bind(run.warnings)
        .bind(run.unknown)
        .bind(&run.alerts)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE watches SET memory = $2, runs = runs + 1 WHERE id = $1")
            .bind(watch_id)
            .bind(memory)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// A watch's runs, newest first, at most `limit`.
    pub async fn watch_runs(
        &self,
        watch_id: &str,
        limit: i64,
    ) -> Result<Vec<WatchRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT audit_id, ran_at, verdict, score, errors, warnings, unknown, alerts FROM watch_runs WHERE watch_id = $1 ORDER BY ran_at DESC, audit_id LIMIT $2",
        )
        .bind(watch_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| WatchRun {
                audit_id: r.get("audit_id"),
                ran_at: r.get("ran_at"),
                verdict: r.get("verdict"),
                score: r.get("score"),
                errors: r.get("errors"),
                warnings: r.get("warnings"),
                unknown: r.get("unknown"),
                alerts: r.get("alerts"),
            })
            .collect())
    }

    /// The JSON report of the newest run of a watch whose verdict is not
    /// "could not check": the one a run is compared with.
    pub async fn last_definitive_report(
        &self,
        watch_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT r.body AS body FROM watch_runs w JOIN reports r ON r.id = w.audit_id AND r.format = 'json' WHERE w.watch_id = $1 AND w.verdict <> 'could-not-check' ORDER BY w.ran_at DESC LIMIT 1",
        )
        .bind(watch_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get("body")))
    }

    /// Audits per state (for /metrics).
    pub async fn counts(&self) -> Result<Vec<(State, i64)>, StoreError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM audits GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (State::parse(&r.get::<String, _>("status")), r.get("n")))
            .collect())
    }
}
