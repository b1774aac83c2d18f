//! The HTTP side: the JSON API (`/api/v1/...`, documented in docs/api.md),
//! the pages (`pages.rs`), `/healthz` and `/metrics`. Every API error is
//! `{"error": "..."}` with its status; a token, when the service has
//! any, is asked for on the API (`Authorization: Bearer`) and on the
//! pages (a login that sets a cookie).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, Form, FromRequest, Multipart, Path, Query, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use super::store::State as AuditState;
use super::{
    AuditRequest, Job, ListQuery, Refused, Service, Upload, authorised_token, list_params, pages,
    valid_id,
};

/// Serves until `shutdown` resolves; then stops accepting, finishes the
/// requests in flight and the running audits, and leaves the waiting ones
/// queued in the store.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(service.clone());
    let closing = service.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        closing.close();
    })
    .await?;
    service.shut_down().await;
    Ok(())
}

/// Every route of the service.
pub fn router(service: Arc<Service>) -> Router {
    let limit = service.config.body_limit;
    let open = Router::new()
        .route("/healthz", get(healthz))
        .route("/login", get(pages::login_page).post(pages::login));
    let guarded = Router::new()
        .route("/", get(pages::home))
        .route("/audits", get(pages::list).post(submit_form))
        .route("/audits/{file}", get(pages::audit))
        .route("/metrics", get(metrics))
        .route("/api/v1/audits", post(submit_api).get(list_api))
        .route("/api/v1/audits/{id}", get(get_api))
        .route("/api/v1/blocklist", post(submit_blocklist))
        .route("/api/v1/tests", post(create_test_api))
        .route("/api/v1/tests/{id}", get(get_test_api))
        .route("/tests", post(pages::create_test))
        .route("/tests/{id}", get(pages::test))
        .route("/api/v1/watches", post(add_watch_api).get(list_watches_api))
        .route(
            "/api/v1/watches/{id}",
            get(get_watch_api).delete(remove_watch_api),
        )
        .route("/watches", get(pages::watches).post(pages::add_watch))
        .route("/watches/{id}", get(pages::watch))
        .route("/watches/{id}/remove", post(pages::remove_watch))
        .route("/watches/{id}/run", post(pages::run_watch))
        .route("/api/v1/watches/{id}/run", post(run_watch_api))
        .layer(middleware::from_fn_with_state(service.clone(), guard));
    open.merge(guarded)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(service.clone(), closing))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(
                    tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
                )
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(30),
        ))
        .with_state(service)
}

/// An API error: `{"error": "..."}` with its status.
pub(super) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such page")
}

/// 503 while shutting down.
async fn closing(State(service): State<Arc<Service>>, req: Request, next: Next) -> Response {
    if service.closing() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down",
        );
    }
    next.run(req).await
}

/// Whether the request carries an accepted token (header or cookie).
pub(super) fn authorised(service: &Service, headers: &HeaderMap) -> bool {
    if service.config.tokens.is_empty() {
        return true;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(pages::COOKIE))
        .filter_map(|c| c.strip_prefix('='))
        .next();
    [bearer, cookie]
        .into_iter()
        .flatten()
        .any(|t| authorised_token(service, t))
}

/// The token check: 401 on the API, the login page on the pages.
async fn guard(State(service): State<Arc<Service>>, req: Request, next: Next) -> Response {
    if authorised(&service, req.headers()) {
        return next.run(req).await;
    }
    if req.uri().path().starts_with("/api/") || req.uri().path() == "/metrics" {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "a token is required: Authorization: Bearer TOKEN",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    Redirect::to("/login").into_response()
}

async fn healthz(State(service): State<Arc<Service>>) -> Response {
    match service.store.ping().await {
        Ok(()) if !service.queue.is_closed() => {
            (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
        }
        Ok(()) => error(StatusCode::SERVICE_UNAVAILABLE, "the queue is closed"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        service.metrics().await,
    )
        .into_response()
}

/// What refusing a submission answers on the API.
fn refused(r: Refused) -> Response {
    match r {
        Refused::Invalid(why) => error(StatusCode::BAD_REQUEST, why),
        Refused::Busy => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "the queue is full; try again later",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            r
        }
        Refused::Limited(wait) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests from this address; try again in {wait} s"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            r
        }
        Refused::Closing => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down",
        ),
        Refused::Store(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// A body the extractor refused: over the limit (413), or not what the
/// endpoint takes (400, saying why).
fn body_refused(status: StatusCode, text: String) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        error(status, "the request body is over the limit")
    } else {
        error(StatusCode::BAD_REQUEST, text)
    }
}

#[derive(Serialize)]
struct Accepted {
    id: String,
    status: &'static str,
    links: Links,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    html: String,
}

/// 202 and where to find what was accepted.
fn accepted(id: String, state: AuditState) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            links: Links {
                this: format!("/api/v1/audits/{id}"),
                html: format!("/audits/{id}"),
            },
            id,
            status: state.as_str(),
        }),
    )
        .into_response()
}

/// Whether the request's body is `multipart/form-data`.
fn multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// What a form or a multipart request sent: text fields (lists one a
/// line, or separated by spaces or commas) and files.
#[derive(Default, Deserialize)]
pub(super) struct FormFields {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    ips: String,
    #[serde(default)]
    selectors: String,
    #[serde(default)]
    checks: String,
    #[serde(skip)]
    message: Option<Upload>,
    #[serde(skip)]
    recipients: Option<Upload>,
}

impl FormFields {
    fn job(&self) -> Job {
        Job::Audit {
            request: AuditRequest {
                domain: self.domain.clone(),
                ips: words(&self.ips),
                selectors: words(&self.selectors),
                checks: words(&self.checks),
            },
            message: self.message.clone(),
            recipients: self.recipients.clone(),
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// The fields of a multipart body; a file field left empty (a browser
/// sends one when no file was chosen) is no file.
async fn read_multipart(req: Request) -> Result<FormFields, Response> {
    let mut parts = Multipart::from_request(req, &())
        .await
        .map_err(|e| body_refused(e.status(), e.body_text()))?;
    let mut fields = FormFields::default();
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| body_refused(e.status(), e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| body_refused(e.status(), e.body_text()))?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        let upload = || {
            (!bytes.is_empty()).then(|| Upload {
                name: file_name.clone().unwrap_or_else(|| name.clone()),
                bytes: bytes.to_vec(),
            })
        };
        match name.as_str() {
            "domain" => fields.domain = text(),
            "ips" => fields.ips = text(),
            "selectors" => fields.selectors = text(),
            "checks" => fields.checks = text(),
            "message" => fields.message = upload(),
            "recipients" => fields.recipients = upload(),
            other => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown field {other:?}: expected domain, ips, selectors, checks, message or recipients"
                    ),
                ));
            }
        }
    }
    Ok(fields)
}

/// A form body: multipart (with files) or URL-encoded.
async fn read_form(req: Request) -> Result<FormFields, Response> {
    if multipart(&req) {
        return read_multipart(req).await;
    }
    match Form::<FormFields>::from_request(req, &()).await {
        Ok(Form(f)) => Ok(f),
        Err(e) => Err(body_refused(e.status(), e.body_text())),
    }
}

/// `POST /api/v1/audits`: JSON, or multipart with a message and a
/// recipient list.
async fn submit_api(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let client = service.client_of(peer, req.headers());
    let job = if multipart(&req) {
        match read_multipart(req).await {
            Ok(fields) => fields.job(),
            Err(r) => return r,
        }
    } else {
        match axum::Json::<AuditRequest>::from_request(req, &()).await {
            Ok(axum::Json(a)) => Job::audit(a),
            Err(e) => return body_refused(e.status(), e.body_text()),
        }
    };
    match service.submit(&job, Some(client)).await {
        Ok((id, state)) => accepted(id, state),
        Err(r) => refused(r),
    }
}

/// `POST /api/v1/blocklist`: addresses, ranges and domains.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlocklistBody {
    targets: Vec<String>,
}

async fn submit_blocklist(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::Json<BlocklistBody>, JsonRejection>,
) -> Response {
    let client = service.client_of(peer, &headers);
    let targets = match body {
        Ok(axum::Json(b)) => b.targets,
        Err(e) => return body_refused(e.status(), e.body_text()),
    };
    match service
        .submit(&Job::Blocklist { targets }, Some(client))
        .await
    {
        Ok((id, state)) => accepted(id, state),
        Err(r) => refused(r),
    }
}

/// The page's form: to the permalink, or the form again saying what is
/// wrong.
async fn submit_form(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let client = service.client_of(peer, req.headers());
    let fields = match read_form(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    match service.submit(&fields.job(), Some(client)).await {
        Ok((id, _)) => Redirect::to(&format!("/audits/{id}")).into_response(),
        Err(Refused::Invalid(why)) => {
            pages::home_with(
                &service,
                StatusCode::BAD_REQUEST,
                Some(&why),
                &fields.domain,
                &fields.ips,
                &fields.selectors,
            )
            .await
        }
        Err(r) => refused(r),
    }
}

async fn get_api(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such audit");
    }
    match service.store.get(&id).await {
        Ok(Some(a)) => {
            let mut body = serde_json::Map::new();
            body.insert("id".into(), json!(a.id));
            body.insert("status".into(), json!(a.state.as_str()));
            body.insert("domain".into(), json!(a.domain));
            body.insert("created_at".into(), json!(super::rfc3339(a.created_at)));
            if a.state == AuditState::Done {
                body.insert("verdict".into(), json!(a.verdict));
                let report = match service.store.report(&id, "json").await {
                    Ok(r) => r,
                    Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                };
                let report = report
                    .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
                    .unwrap_or(serde_json::Value::Null);
                body.insert("report".into(), report);
            }
            if a.state == AuditState::Failed {
                body.insert("error".into(), json!(a.error));
            }
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such audit"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list_api(
    State(service): State<Arc<Service>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(StatusCode::BAD_REQUEST, "limit: not a number");
    };
    let (domain, limit) = match list_params(&q) {
        Ok(p) => p,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match service.store.list(domain.as_deref(), limit).await {
        Ok(rows) => axum::Json(json!({
            "audits": rows.iter().map(|r| json!({
                "id": r.id,
                "domain": r.domain,
                "status": r.state.as_str(),
                "verdict": r.verdict,
                "created_at": super::rfc3339(r.created_at),
                "links": {"self": format!("/api/v1/audits/{}", r.id), "html": format!("/audits/{}", r.id)},
            })).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /api/v1/tests`: a new test address (201).
async fn create_test_api(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if service.config.tests.is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "this server gives out no test addresses (serve --smtp-listen --mail-domain)",
        );
    }
    match service
        .create_test(Some(service.client_of(peer, &headers)))
        .await
    {
        Ok(t) => (StatusCode::CREATED, axum::Json(test_json(&t, "waiting"))).into_response(),
        Err(r) => refused(r),
    }
}

/// A test as the API shows it.
fn test_json(t: &super::TestAddress, status: &str) -> serde_json::Value {
    json!({
        "id": t.id,
        "address": t.address,
        "status": status,
        "created_at": super::rfc3339(t.created_at),
        "expires_at": super::rfc3339(t.expires_at),
        "links": {"self": format!("/api/v1/tests/{}", t.id), "html": format!("/tests/{}", t.id)},
    })
}

/// `GET /api/v1/tests/ID`: the address, whether a message arrived, the
/// audits of what arrived (newest first) and the newest report.
async fn get_test_api(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such test");
    }
    let row = match service.store.test(&id).await {
        Ok(Some(t)) => t,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such test"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let received = match service.store.audits_of_test(&id).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let status = super::test_status(&row, !received.is_empty());
    let mut body = test_json(&service.test_address(&row), status);
    let latest = match received.iter().find(|a| a.state == AuditState::Done) {
        Some(a) => service
            .store
            .report(&a.id, "json")
            .await
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok()),
        None => None,
    };
    body["messages"] = json!(received.iter().map(|r| json!({
        "id": r.id,
        "status": r.state.as_str(),
        "verdict": r.verdict,
        "received_at": super::rfc3339(r.created_at),
        "links": {"self": format!("/api/v1/audits/{}", r.id), "html": format!("/audits/{}", r.id)},
    })).collect::<Vec<_>>());
    body["report"] = latest.unwrap_or(serde_json::Value::Null);
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `POST /api/v1/watches`: an audit request and how often to run it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchBody {
    domain: String,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    selectors: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
    /// `6h`, `1d`, `30m` (default 6h).
    every: Option<String>,
}

/// `POST /api/v1/watches`: a new watch (201).
async fn add_watch_api(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let client = service.client_of(peer, req.headers());
    let body = match axum::Json::<WatchBody>::from_request(req, &()).await {
        Ok(axum::Json(b)) => b,
        Err(e) => return body_refused(e.status(), e.body_text()),
    };
    let every = match crate::input::period(body.every.as_deref().unwrap_or("6h")) {
        Ok(d) => d,
        Err(why) => return error(StatusCode::BAD_REQUEST, format!("every: {why}")),
    };
    let request = AuditRequest {
        domain: body.domain,
        ips: body.ips,
        selectors: body.selectors,
        checks: body.checks,
    };
    match service.add_watch(&request, every, Some(client)).await {
        Ok(row) => (
            StatusCode::CREATED,
            axum::Json(super::watch::watch_json(&row, None)),
        )
            .into_response(),
        Err(r) => refused(r),
    }
}

/// `GET /api/v1/watches`: every watch with its last run.
async fn list_watches_api(State(service): State<Arc<Service>>) -> Response {
    match super::watch::list(&service.store).await {
        Ok(list) => {
            let watches: Vec<serde_json::Value> = list
                .iter()
                .map(|(w, last)| super::watch::watch_json(w, last.as_ref()))
                .collect();
            axum::Json(json!({ "watches": watches })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/v1/watches/ID`: the watch and its runs, newest first.
async fn get_watch_api(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such watch");
    }
    let row = match service.store.watch(&id).await {
        Ok(Some(w)) => w,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such watch"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let runs = match service.store.watch_runs(&row.id, 100).await {
        Ok(r) => r,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut body = super::watch::watch_json(&row, runs.first());
    body["running"] = json!(service.watch_running(&row.id));
    body["runs"] = json!(runs.iter().map(super::watch::run_json).collect::<Vec<_>>());
    axum::Json(body).into_response()
}

/// `DELETE /api/v1/watches/ID`: 204.
async fn remove_watch_api(State(service): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such watch");
    }
    match service.store.remove_watch(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "no such watch"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /api/v1/watches/ID/run`: run it now (202), unless a run of it is
/// under way (409).
async fn run_watch_api(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such watch");
    }
    let client = service.client_of(peer, &headers);
    match service.run_watch_now(&id, Some(client)).await {
        Ok(true) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "status": "running",
                "links": {"self": format!("/api/v1/watches/{id}"), "html": format!("/watches/{id}")},
            })),
        )
            .into_response(),
        Ok(false) => error(StatusCode::CONFLICT, "a run of this watch is under way"),
        Err(Refused::Invalid(_)) => error(StatusCode::NOT_FOUND, "no such watch"),
        Err(r) => refused(r),
    }
}
