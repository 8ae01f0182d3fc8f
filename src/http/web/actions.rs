//! The dashboard's POSTs: retry an outbox delivery (what `storywatch outbox
//! retry` does), mute and unmute a story, and log in (trade the API token
//! for a cookie). Each checks the form's CSRF token first.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::page;
use crate::http::Ctx;

/// The cookie that carries the API token for a browser.
pub const COOKIE: &str = "storywatch_token";

/// A posted form's fields.
fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `None` when the form carries our CSRF token, else the refusal.
fn refuse_forged(form: &[(String, String)]) -> Option<Response> {
    (!page::csrf_ok(field(form, "csrf"))).then(|| {
        page::message(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is from an earlier run of the daemon or another site. Reload the page and try again.",
        )
    })
}

pub(super) async fn retry(
    State(ctx): State<Ctx>,
    Path(alert): Path<String>,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Some(refusal) = refuse_forged(&form) {
        return refusal;
    }
    let Ok(id) = alert.parse::<u64>() else {
        return page::message(
            StatusCode::NOT_FOUND,
            "No such alert",
            "Alert ids are numbers; the outbox page lists them.",
        );
    };
    let app = ctx.app.clone();
    let r = tokio::task::spawn_blocking(move || {
        let shared = app.shared();
        let known: Vec<&str> = shared
            .config
            .notifiers
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        crate::cli::outbox::retry(&app.store, id, None, &known, app.now())
    })
    .await;
    match r {
        Ok(Ok(notifiers)) => {
            tracing::info!(alert = id, notifiers = ?notifiers, "retry asked for from the dashboard");
            ctx.app.delivery_wake.notify_waiters();
            page::see_other(&format!("/outbox?retried={id}"))
        }
        Ok(Err(e)) => page::message(StatusCode::CONFLICT, "Nothing retried", &e.to_string()),
        Err(e) => super::failed(e),
    }
}

pub(super) async fn mute(State(ctx): State<Ctx>, Path(id): Path<String>, body: Bytes) -> Response {
    set_mute(ctx, id, body, true).await
}

pub(super) async fn unmute(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    set_mute(ctx, id, body, false).await
}

async fn set_mute(ctx: Ctx, id: String, body: Bytes, mute: bool) -> Response {
    let form = form(&body);
    if let Some(refusal) = refuse_forged(&form) {
        return refusal;
    }
    let app = ctx.app.clone();
    super::blocking_page(move || {
        let Some(story) = app.store.story(&id)? else {
            return Ok(page::message(
                StatusCode::NOT_FOUND,
                "No such story",
                "The stories page lists the ones storywatch knows.",
            ));
        };
        if mute {
            app.store.mute_story(&story.id, None)?;
        } else {
            app.store.unmute_story(&story.id)?;
        }
        tracing::info!(story = %story.id, mute, "story mute changed from the dashboard");
        Ok(page::see_other(&format!("/stories/{}", story.id)))
    })
    .await
}

pub(super) async fn login_form() -> Response {
    page::render(
        StatusCode::OK,
        "message.html",
        serde_json::json!({ "title": "Log in", "login": true }),
    )
}

pub(super) async fn login(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let form = form(&body);
    if let Some(refusal) = refuse_forged(&form) {
        return refusal;
    }
    let shared = ctx.app.shared();
    let given = field(&form, "token").unwrap_or("").trim();
    let Some(token) = &shared.api_token else {
        return page::see_other("/");
    };
    if !crate::http::tokens_match(token.expose(), given) {
        let mut resp = page::render(
            StatusCode::UNAUTHORIZED,
            "message.html",
            serde_json::json!({ "title": "Log in", "login": true, "wrong": true }),
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    let mut resp = page::see_other("/");
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        cookie_value(given)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// A token as a cookie value (percent-encoded: tokens may hold `;`).
pub fn cookie_value(token: &str) -> String {
    percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC).to_string()
}
