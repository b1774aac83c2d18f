//! The service's web pages (templates/serve/): the form, the list of
//! recent audits, a permalink (progress until done, then the stored HTML
//! report, or the report in another format by its suffix), and the login
//! page when the service has tokens. Everything works without JavaScript;
//! every value from outside is escaped by the templates.

use std::sync::{Arc, OnceLock};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use super::store::{Listed, State as AuditState};
use super::{ListQuery, Service, authorised_token, list_params, rfc3339, valid_id};

/// The cookie that carries the token after a login.
pub const COOKIE: &str = "mailaudit_token";

/// The templates, parsed once.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, text) in [
            (
                "base.html.j2",
                include_str!("../../templates/serve/base.html.j2"),
            ),
            (
                "home.html.j2",
                include_str!("../../templates/serve/home.html.j2"),
            ),
            (
                "list.html.j2",
                include_str!("../../templates/serve/list.html.j2"),
            ),
            (
                "rows.html.j2",
                include_str!("../../templates/serve/rows.html.j2"),
            ),
            (
                "progress.html.j2",
                include_str!("../../templates/serve/progress.html.j2"),
            ),
            (
                "login.html.j2",
                include_str!("../../templates/serve/login.html.j2"),
            ),
            (
                "test.html.j2",
                include_str!("../../templates/serve/test.html.j2"),
            ),
            (
                "watches.html.j2",
                include_str!("../../templates/serve/watches.html.j2"),
            ),
            (
                "watch.html.j2",
                include_str!("../../templates/serve/watch.html.j2"),
            ),
        ] {
            env.add_template(name, text)
                .expect("the service's templates parse (tested)");
        }
        env
    })
}

/// A page, or a 500 that says which template failed.
fn page(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    let ctx = context! { version => env!("CARGO_PKG_VERSION"), ..ctx };
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page {name} could not be made: {e}"),
        )
            .into_response(),
    }
}

/// A size in bytes as people say it (`10 MiB`).
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A line of a list of audits, as the pages show it.
#[derive(Serialize)]
struct Row {
    id: String,
    domain: String,
    status: &'static str,
    verdict: Option<String>,
    created_at: String,
}

fn rows(listed: Vec<Listed>) -> minijinja::Value {
    let rows: Vec<Row> = listed
        .into_iter()
        .map(|a| Row {
            id: a.id,
            domain: a.domain.unwrap_or_default(),
            status: a.state.as_str(),
            verdict: a.verdict,
            created_at: rfc3339(a.created_at),
        })
        .collect();
    minijinja::Value::from(minijinja::value::Serde(&rows))
}

pub(super) async fn home(State(service): State<Arc<Service>>) -> Response {
    home_with(&service, StatusCode::OK, None, "", "", "").await
}

/// The form, filled in with what was sent and what was wrong with it.
pub(super) async fn home_with(
    service: &Service,
    status: StatusCode,
    error: Option<&str>,
    domain: &str,
    ips: &str,
    selectors: &str,
) -> Response {
    let recent = rows(service.store.list(None, 10).await.unwrap_or_default());
    page(
        status,
        "home.html.j2",
        context! {
            error, domain, ips, selectors, recent,
            max_addresses => service.config.max_addresses,
            max_body => size(service.config.body_limit),
            limits => service.config.connections(),
            tests => service.config.tests.as_ref().map(|t| t.mail_domain.clone()),
        },
    )
}

pub(super) async fn list(
    State(service): State<Arc<Service>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or(ListQuery {
        domain: None,
        limit: Some(0),
    });
    let shown = q.domain.clone().unwrap_or_default();
    let (domain, limit) = match list_params(&q) {
        Ok(p) => p,
        Err(why) => {
            return page(
                StatusCode::BAD_REQUEST,
                "list.html.j2",
                context! { domain => shown, error => why },
            );
        }
    };
    match service.store.list(domain.as_deref(), limit).await {
        Ok(listed) => page(
            StatusCode::OK,
            "list.html.j2",
            context! { domain => domain.unwrap_or_default(), recent => rows(listed) },
        ),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "list.html.j2",
            context! { domain => shown, error => e.to_string() },
        ),
    }
}

/// `/audits/ID`: progress, then the HTML report; `/audits/ID.EXT`: the
/// report in the format that extension names (json, md, csv, txt, jsonl,
/// html).
pub(super) async fn audit(
    State(service): State<Arc<Service>>,
    Path(file): Path<String>,
) -> Response {
    let (id, format) = match file.split_once('.') {
        Some((id, ext)) => match crate::report::format_of_extension(ext) {
            Some(f) => (id.to_string(), Some(f)),
            None => return not_found(),
        },
        None => (file, None),
    };
    if !valid_id(&id) {
        return not_found();
    }
    let stored = match service.store.get(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if stored.state == AuditState::Done {
        let format = format.unwrap_or(&crate::report::html::Html);
        return match service.store.report(&id, format.name()).await {
            Ok(Some(body)) => {
                let mut r = body.into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(format.media_type()),
                );
                // A stored report never changes.
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=86400, immutable"),
                );
                r
            }
            Ok(None) => not_found(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        };
    }
    if format.is_some() {
        // Not made yet: the client polls the API or the page.
        return (
            StatusCode::NOT_FOUND,
            format!(
                "the audit is {}; its report is not made yet",
                stored.state.as_str()
            ),
        )
            .into_response();
    }
    let mut r = page(
        StatusCode::OK,
        "progress.html.j2",
        context! {
            id => stored.id,
            domain => stored.domain.unwrap_or_default(),
            status => stored.state.as_str(),
            error => stored.error,
            created_at => rfc3339(stored.created_at),
        },
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The form's button: a new test address, then its page.
pub(super) async fn create_test(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    let client = service.client_of(peer, &headers);
    match service.create_test(Some(client)).await {
        Ok(t) => Redirect::to(&format!("/tests/{}", t.id)).into_response(),
        Err(super::Refused::Invalid(why)) => {
            home_with(&service, StatusCode::NOT_FOUND, Some(&why), "", "", "").await
        }
        Err(super::Refused::Limited(wait)) => {
            let why = format!("Too many requests from this address; try again in {wait} s.");
            home_with(
                &service,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&why),
                "",
                "",
                "",
            )
            .await
        }
        Err(other) => {
            let why = match other {
                super::Refused::Closing => "The service is shutting down.".to_string(),
                super::Refused::Store(e) => e.to_string(),
                _ => "The service is busy; try again later.".to_string(),
            };
            home_with(
                &service,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&why),
                "",
                "",
                "",
            )
            .await
        }
    }
}

/// `/tests/ID`: the address and what arrived at it; reloads itself until
/// a message's report is ready.
pub(super) async fn test(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return not_found();
    }
    let row = match service.store.test(&id).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let received = service.store.audits_of_test(&id).await.unwrap_or_default();
    let status = super::test_status(&row, !received.is_empty());
    let pending = received.is_empty() && status == "waiting"
        || received
            .iter()
            .any(|a| matches!(a.state, AuditState::Queued | AuditState::Running));
    let address = service.test_address(&row);
    let mut r = page(
        StatusCode::OK,
        "test.html.j2",
        context! {
            id => row.id,
            address => address.address,
            status,
            pending,
            expires_at => rfc3339(row.expires_at),
            created_at => rfc3339(row.created_at),
            latest => received.first().map(|a| a.id.clone()),
            latest_done => received.first().is_some_and(|a| a.state == AuditState::Done),
            received => rows(received),
        },
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "list.html.j2",
        context! { error => "No such audit is stored (it may have been pruned).", recent => rows(Vec::new()) },
    )
}

pub(super) async fn login_page() -> Response {
    page(StatusCode::OK, "login.html.j2", context! {})
}

#[derive(Deserialize)]
pub(super) struct LoginFields {
    token: String,
}

/// A right token sets the cookie (HttpOnly, SameSite=Strict: no other
/// site can post the form with it) and goes to the form.
pub(super) async fn login(
    State(service): State<Arc<Service>>,
    form: Result<Form<LoginFields>, FormRejection>,
) -> Response {
    let token = form.map(|Form(f)| f.token).unwrap_or_default();
    let token = token.trim();
    if token.is_empty() || !authorised_token(&service, token) {
        return page(
            StatusCode::UNAUTHORIZED,
            "login.html.j2",
            context! { error => "That token is not accepted here." },
        );
    }
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000");
    let mut r = Redirect::to("/").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
            r
        }
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "login.html.j2",
            context! { error => "That token cannot be kept in a cookie." },
        ),
    }
}

/// `/watches`: every watch and its last verdict, and the form to add one.
pub(super) async fn watches(State(service): State<Arc<Service>>) -> Response {
    watches_with(&service, StatusCode::OK, None, "", "", "6h").await
}

async fn watches_with(
    service: &Service,
    status: StatusCode,
    error: Option<&str>,
    domain: &str,
    ips: &str,
    every: &str,
) -> Response {
    let list = super::watch::list(&service.store).await.unwrap_or_default();
    let watches: Vec<serde_json::Value> = list
        .iter()
        .map(|(w, last)| super::watch::watch_json(w, last.as_ref()))
        .collect();
    page(
        status,
        "watches.html.j2",
        context! {
            watches => minijinja::Value::from(minijinja::value::Serde(&watches)),
            error, domain, ips, every,
            confirm_runs => service.config.watch.confirm_runs,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct WatchFields {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    ips: String,
    #[serde(default)]
    every: String,
}

/// The form's new watch: to its page, or the form again saying what is
/// wrong.
pub(super) async fn add_watch(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    form: Result<Form<WatchFields>, FormRejection>,
) -> Response {
    let client = service.client_of(peer, &headers);
    let Ok(Form(f)) = form else {
        return watches_with(
            &service,
            StatusCode::BAD_REQUEST,
            Some("The form could not be read."),
            "",
            "",
            "6h",
        )
        .await;
    };
    let every = if f.every.trim().is_empty() {
        "6h"
    } else {
        f.every.trim()
    };
    let request = super::AuditRequest {
        domain: f.domain.clone(),
        ips: f
            .ips
            .split([' ', ',', '\n', '\r', '\t'])
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        selectors: Vec::new(),
        checks: Vec::new(),
    };
    let result = match crate::input::period(every) {
        Ok(d) => service.add_watch(&request, d, Some(client)).await,
        Err(why) => Err(super::Refused::Invalid(format!("every: {why}"))),
    };
    match result {
        Ok(row) => Redirect::to(&format!("/watches/{}", row.id)).into_response(),
        Err(r) => {
            let (status, why) = refusal(r);
            watches_with(&service, status, Some(&why), &f.domain, &f.ips, every).await
        }
    }
}

/// A refused watch request, as the watch pages say it: the status and a
/// sentence.
fn refusal(r: super::Refused) -> (StatusCode, String) {
    match r {
        super::Refused::Invalid(why) => (StatusCode::BAD_REQUEST, why),
        super::Refused::Store(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        super::Refused::Limited(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many requests from this address; try again in {wait} s."),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is busy or shutting down; try again later.".to_string(),
        ),
    }
}

/// `/watches/ID`: the watch, a chart of its runs and their history.
pub(super) async fn watch(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return not_found();
    }
    let row = match service.store.watch(&id).await {
        Ok(Some(w)) => w,
        Ok(None) => return not_found(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let runs = service
        .store
        .watch_runs(&row.id, 100)
        .await
        .unwrap_or_default();
    let w = super::watch::watch_json(&row, runs.first());
    let shown: Vec<serde_json::Value> = runs.iter().map(super::watch::run_json).collect();
    let mut r = page(
        StatusCode::OK,
        "watch.html.j2",
        context! {
            w => minijinja::Value::from(minijinja::value::Serde(&w)),
            runs => minijinja::Value::from(minijinja::value::Serde(&shown)),
            chart => (runs.len() >= 2).then(|| chart(&runs)),
            running => service.watch_running(&row.id),
        },
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `POST /watches/ID/run`: run it now, back to its page (which reloads
/// itself while the run is under way).
pub(super) async fn run_watch(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !valid_id(&id) {
        return not_found();
    }
    let client = service.client_of(peer, &headers);
    match service.run_watch_now(&id, Some(client)).await {
        Ok(_) => Redirect::to(&format!("/watches/{id}")).into_response(),
        Err(super::Refused::Invalid(_)) => not_found(),
        Err(r) => refusal(r).into_response(),
    }
}

/// `POST /watches/ID/remove`: to the list.
pub(super) async fn remove_watch(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
) -> Response {
    if !valid_id(&id) {
        return not_found();
    }
    match service.store.remove_watch(&id).await {
        Ok(_) => Redirect::to("/watches").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The runs (newest first) as an inline SVG: the score as a line (0 to
/// 10), errors and warnings as lines scaled to the most of either, a grey
/// mark under each run that could not check everything. Made of numbers
/// only: nothing from outside is in it.
fn chart(runs: &[super::store::WatchRun]) -> String {
    use std::fmt::Write;
    let (w, h, left, bottom, top) = (420.0_f64, 190.0_f64, 30.0_f64, 28.0_f64, 10.0_f64);
    let oldest_first: Vec<&super::store::WatchRun> = runs.iter().rev().collect();
    let n = oldest_first.len().max(2) as f64;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / (n - 1.0);
    let plot = h - bottom - top;
    let y = |v: f64, max: f64| top + plot * (1.0 - v / max.max(1.0));
    let most = oldest_first
        .iter()
        .map(|r| r.errors.max(r.warnings))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let line = |value: &dyn Fn(&super::store::WatchRun) -> f64, max: f64| -> String {
        oldest_first
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(value(r), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut svg = format!(
        r##"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Score and findings of the last {} runs" xmlns="http://www.w3.org/2000/svg">"##,
        oldest_first.len()
    );
    for (v, label) in [(0.0, "0"), (5.0, "5"), (10.0, "10")] {
        let yy = y(v, 10.0);
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e6e8ec"/><text x="2" y="{:.1}" font-size="13" fill="#5a6476">{label}</text>"##,
            w - 10.0,
            yy + 4.0
        );
    }
    for (i, r) in oldest_first.iter().enumerate() {
        if r.verdict == "could-not-check" {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="6" height="6" fill="#9aa3b2"/>"##,
                x(i) - 3.0,
                h - bottom + 4.0
            );
        }
    }
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#d97706" stroke-width="2" points="{}"/>"##,
        line(&|r| r.warnings as f64, most)
    );
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#b91c1c" stroke-width="2" points="{}"/>"##,
        line(&|r| r.errors as f64, most)
    );
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#23408e" stroke-width="2.5" points="{}"/>"##,
        line(&|r| r.score as f64, 10.0)
    );
    // The first and last runs' dates under the axis.
    if let (Some(first), Some(last)) = (oldest_first.first(), oldest_first.last()) {
        let day = |ms: i64| {
            rfc3339(ms)
                .chars()
                .take(16)
                .collect::<String>()
                .replace('T', " ")
        };
        let _ = write!(
            svg,
            r##"<text x="{left}" y="{:.1}" font-size="12" fill="#5a6476">{}</text><text x="{:.1}" y="{:.1}" font-size="12" fill="#5a6476" text-anchor="end">{}</text>"##,
            h - 4.0,
            day(first.ran_at),
            w - 10.0,
            h - 4.0,
            day(last.ran_at)
        );
    }
    svg.push_str("</svg>");
    svg
}
