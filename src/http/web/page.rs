//! How a dashboard page goes out: the templates (embedded at compile time,
//! rendered by minijinja with HTML autoescaping), the security headers every
//! page carries, and the CSRF token that every form posts back.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use rand::RngCore;

/// No remote resources, no inline script or style: the stylesheet is ours.
pub const CSP: &str =
    "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("home.html", include_str!("templates/home.html")),
    ("story.html", include_str!("templates/story.html")),
    ("compare.html", include_str!("templates/compare.html")),
    ("watches.html", include_str!("templates/watches.html")),
    ("feeds.html", include_str!("templates/feeds.html")),
    ("outbox.html", include_str!("templates/outbox.html")),
    ("message.html", include_str!("templates/message.html")),
];

pub const STYLESHEET: &str = include_str!("templates/style.css");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // names in links (`/?watch=…`); minijinja's own needs a feature
        env.add_filter("urlencode", |value: String| {
            percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        });
        for (name, source) in TEMPLATES {
            // the templates are ours and compiled into the binary: a
            // broken one fails `page::tests` and every page test
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "dashboard template does not compile");
            }
        }
        env
    })
}

/// A per-process secret that forms post back: a page from another site
/// cannot know it, so it cannot make a logged-in browser act.
pub fn csrf_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    })
}

/// Whether a posted token is ours (constant time in the token's content).
pub fn csrf_ok(given: Option<&str>) -> bool {
    let expected = csrf_token().as_bytes();
    given.is_some_and(|g| {
        g.len() == expected.len()
            && g.bytes()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

/// Renders `template` with `ctx` (plus the CSRF token) as a page.
pub fn render(status: StatusCode, template: &str, mut ctx: serde_json::Value) -> Response {
    ctx["csrf"] = serde_json::Value::from(csrf_token());
    let body = env()
        .get_template(template)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)));
    match body {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(template, error = %e, "dashboard page failed to render");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Page failed",
                "This page could not be rendered; the daemon's log has the details.",
            )
        }
    }
}

/// A page that only says something (errors, refusals).
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let ctx = minijinja::context! { title, text, csrf => csrf_token() };
    match env()
        .get_template("message.html")
        .and_then(|t| t.render(ctx))
    {
        Ok(body) => html(status, body),
        Err(_) => html(status, html_escape::encode_text(text).into_owned()),
    }
}

pub fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    secure(&mut resp);
    resp
}

/// The headers every dashboard response carries.
pub fn secure(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// After a POST: see the page again (303, so a reload does not re-post).
pub fn see_other(location: &str) -> Response {
    let mut resp = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response();
    secure(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_csrf_tokens_are_checked() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        assert!(csrf_ok(Some(csrf_token())));
        assert!(!csrf_ok(Some("nope")));
        assert!(!csrf_ok(None));
    }
}
