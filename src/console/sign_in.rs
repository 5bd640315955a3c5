//! Signing in with a bearer token, picking a tenant ("*" tokens), signing out.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::page::{self, csrf_field, notice, Frame};
use super::{refuse, same_origin, Console, COOKIE, SESSION_SECONDS};
use crate::api::auth::Credential;
use crate::domain::TenantId;

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    token: String,
}

fn sign_in_page(status: StatusCode, message: Option<&str>) -> Response {
    let frame = Frame { session: None, csrf: None };
    let body = html! {
        @if let Some(m) = message { (notice("error", m)) }
        p { "Sign in with your organisation's textgate API token. The console shows your tenant's consent ledger and decisions; it changes nothing." }
        form.card method="post" action="/sign-in" {
            label for="token" { "API token"
                input #token type="password" name="token" autocomplete="current-password" required;
            }
            button type="submit" { "Sign in" }
        }
    };
    (status, page::page("Sign in", &frame, body)).into_response()
}

pub async fn form(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if c.session(&headers).is_some() {
        return Redirect::to("/").into_response();
    }
    sign_in_page(StatusCode::OK, None)
}

/// Checks the token against the table in force; a good one gets a session.
pub async fn submit(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<SignIn>) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r;
    }
    let token = f.token.trim();
    let credential = Credential::of_token(token);
    let access = if token.is_empty() { None } else { c.app.auth.load().access(&credential).ok() };
    let (Some(access), Some(digest)) = (access, credential.digest()) else {
        tracing::info!("console sign-in refused");
        return sign_in_page(StatusCode::UNAUTHORIZED, Some("That token is not accepted."));
    };
    let session = c.sessions.issue(digest, &access, c.now() + SESSION_SECONDS);
    tracing::info!(tenant = ?session.tenant.as_ref().map(|t| t.as_str()), any = session.any, "console sign-in");
    let to = if session.tenant.is_some() { "/" } else { "/tenant" };
    ([(header::SET_COOKIE, c.set_cookie(&session))], Redirect::to(to)).into_response()
}

/// The tenant picker of a "*" session.
pub async fn pick(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(s) = c.session(&headers) else { return Redirect::to("/sign-in").into_response() };
    if !s.any {
        return Redirect::to("/").into_response();
    }
    let tenants: Vec<String> = c.app.auth.load().tenants().iter().map(|t| t.as_str().to_string()).collect();
    let frame = c.frame(&s);
    let body = html! {
        p { "This token may act for every tenant. Choose the one to look at; every page then shows that tenant only." }
        form.card method="post" action="/tenant" {
            (csrf_field(&c.sessions.csrf(&s)))
            label for="tenant" { "Tenant"
                select #tenant name="tenant" {
                    @for t in &tenants { option value=(t) { (t) } }
                }
            }
            button type="submit" { "Continue" }
        }
    };
    page::page("Choose a tenant", &frame, body).into_response()
}

#[derive(Deserialize)]
pub struct Picked {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tenant: String,
}

pub async fn picked(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<Picked>) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r;
    }
    let Some(s) = c.session(&headers) else { return Redirect::to("/sign-in").into_response() };
    if !s.any || !c.sessions.csrf_ok(&s, &f.csrf) {
        return refuse(StatusCode::FORBIDDEN, "This form has expired: reload the page and try again.");
    }
    let tenant = TenantId::new(f.tenant.as_str());
    if !c.app.auth.load().tenants().contains(&tenant) {
        return refuse(StatusCode::NOT_FOUND, "No such tenant.");
    }
    let picked = c.sessions.with_tenant(&s, tenant);
    c.sessions.sign_out(&s, c.now());
    ([(header::SET_COOKIE, c.set_cookie(&picked))], Redirect::to("/")).into_response()
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(State(c): State<Arc<Console>>, headers: HeaderMap, Form(f): Form<SignOut>) -> Response {
    if let Err(r) = same_origin(&headers) {
        return r;
    }
    if let Some(s) = c.session(&headers) {
        if !c.sessions.csrf_ok(&s, &f.csrf) {
            return refuse(StatusCode::FORBIDDEN, "This form has expired: reload the page and try again.");
        }
        c.sessions.sign_out(&s, c.now());
    }
    let clear = format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    ([(header::SET_COOKIE, clear)], Redirect::to("/sign-in")).into_response()
}
