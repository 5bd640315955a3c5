//! The compliance console (`server.console_listen`): server-rendered HTML,
//! read-only, over the same reads the gRPC API makes (`api::consent::get`,
//! `api::check::get_decision`, the ledger's event listing), for the people
//! who must prove consent: sign in with a tenant's bearer token, look up a
//! number's consent timeline and the decisions made for it, open a decision
//! and the rules it cites, export the ledger, read the policy in force, and
//! report the opt-outs and the grants of a range of days ([`reports`]).
//!
//! Every page is confined to the session's tenant ([`session`]). The token
//! is posted once, from the sign-in form, and never appears in a URL, a log
//! or a page; phone numbers travel in POST bodies, not URLs. Every response
//! carries a CSP that allows no script, and `Cache-Control: no-store`.

// Handlers hand a refusal (a redirect, an error page) back as the `Err` of
// their checks; boxing it would only add an allocation on that path.
#![allow(clippy::result_large_err)]

mod decision;
mod export;
mod grants;
mod number;
mod page;
mod policy_page;
mod reports;
mod rules;
pub(crate) mod session;
mod sign_in;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::app::App;
use crate::connections::AdminListener;
use crate::domain::TenantId;
use crate::error::ApiError;
use session::{Session, Sessions, COOKIE};

/// How long a session lasts after sign-in.
const SESSION_SECONDS: i64 = 8 * 3600;

/// What the console's handlers share.
pub struct Console {
    app: Arc<App>,
    sessions: Sessions,
    /// Set the cookie `Secure`: the console is reached beyond loopback,
    /// which config validation allows only behind a TLS-terminating proxy.
    secure: bool,
}

impl Console {
    pub fn new(app: Arc<App>, addr: SocketAddr) -> Arc<Console> {
        let sessions = Sessions::new(app.ledger.console_key());
        let secure = crate::config::exposure::beyond_loopback(addr);
        Arc::new(Console { app, sessions, secure })
    }

    fn now(&self) -> i64 {
        self.app.clock.now().as_second()
    }

    /// The session the request's cookie holds, if any is valid.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let value = cookie(headers, COOKIE)?;
        self.sessions.open(value, self.now(), &self.app.auth.load()).ok()
    }

    /// The signed-in session and its tenant, or the way to get them.
    fn tenant(&self, headers: &HeaderMap) -> Result<(Session, TenantId), Response> {
        let s = self.session(headers).ok_or_else(|| Redirect::to("/sign-in").into_response())?;
        match s.tenant.clone() {
            Some(t) => Ok((s, t)),
            None => Err(Redirect::to("/tenant").into_response()),
        }
    }

    /// As [`Console::tenant`], for a POST: its form token must match.
    fn posted(&self, headers: &HeaderMap, csrf: &str) -> Result<(Session, TenantId), Response> {
        let (s, t) = self.tenant(headers)?;
        if !self.sessions.csrf_ok(&s, csrf) {
            return Err(refuse(StatusCode::FORBIDDEN, "This form has expired: reload the page and try again."));
        }
        Ok((s, t))
    }

    /// The page frame for a signed-in session.
    fn frame<'a>(&self, s: &'a Session) -> page::Frame<'a> {
        page::Frame { session: Some(s), csrf: Some(self.sessions.csrf(s)) }
    }

    /// The `Set-Cookie` value that carries `s`.
    fn set_cookie(&self, s: &Session) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = (s.expires - self.now()).max(0);
        format!("{COOKIE}={}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}", self.sessions.seal(s))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A short error page.
fn refuse(status: StatusCode, text: &str) -> Response {
    let frame = page::Frame { session: None, csrf: None };
    (status, page::page("Not possible", &frame, page::notice("error", text))).into_response()
}

/// What a read the API would refuse becomes in the console.
fn api_error(e: ApiError) -> Response {
    let (status, text) = match &e {
        ApiError::InvalidArgument { field, reason } => (StatusCode::BAD_REQUEST, format!("{field}: {reason}")),
        ApiError::NotFound(what) => (StatusCode::NOT_FOUND, what.clone()),
        _ => {
            tracing::warn!(error = ?e, "console read failed");
            (StatusCode::SERVICE_UNAVAILABLE, "The ledger cannot be read right now; try again shortly.".into())
        }
    };
    refuse(status, &text)
}

/// A cross-site POST is refused whatever it carries: browsers send
/// `Sec-Fetch-Site` (and `Origin`) with every form post.
fn same_origin(headers: &HeaderMap) -> Result<(), Response> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(site, Some(s) if s != "same-origin" && s != "none") {
        return Err(refuse(StatusCode::FORBIDDEN, "Forms are accepted from the console's own pages only."));
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(o), Some(h)) if o != "null" && o.split_once("://").map(|(_, rest)| rest) != Some(h) => {
            Err(refuse(StatusCode::FORBIDDEN, "Forms are accepted from the console's own pages only."))
        }
        _ => Ok(()),
    }
}

/// Headers every console response carries.
async fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let csp = "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
               base-uri 'none'";
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], page::CSS)
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: AdminListener,
    console: Arc<Console>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/", get(number::home))
        .route("/style.css", get(style))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/tenant", get(sign_in::pick).post(sign_in::picked))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/number", post(number::lookup))
        .route("/number/record", post(number::record))
        .route("/decision", get(decision::show))
        .route("/rules", get(rules::catalogue))
        .route("/rules/{id}", get(rules::rule))
        .route("/export", post(export::export))
        .route("/policy", get(policy_page::show))
        .route("/reports", get(reports::index))
        .route("/reports/opt-outs", get(reports::opt_outs))
        .route("/reports/grants", get(grants::by_source))
        .route("/reports/grants/list", get(grants::list))
        .layer(axum::middleware::map_response(harden))
        .with_state(console);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
