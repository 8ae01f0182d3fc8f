//! User templates for webhook bodies and email subject, text and HTML
//! (minijinja), compiled in one place.
//!
//! The config check compiles a template to refuse a broken one at load
//! time, and the webhook notifier compiles it to render alerts: both come
//! here, so config does not depend on the notifier (which depends on
//! config) and both always agree on what compiles. A leaf: it knows
//! minijinja and nothing of ours.

/// Rendering budget: a template loop cannot stall a delivery worker.
const TEMPLATE_FUEL: u64 = 200_000;

/// The name the compiled template is registered under.
pub const NAME: &str = "body";

/// Compiles a body template (with its rendering budget) under [`NAME`].
pub fn compile(source: &str) -> Result<minijinja::Environment<'static>, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_template_owned(NAME, source.to_string())?;
    Ok(env)
}

/// The names email templates are registered under, as the config keys
/// `subject_template`, `text_template` and `html_template` supply them.
pub const EMAIL_PARTS: [&str; 3] = ["subject", "text", "html"];

/// Compiles the email templates given (`(part, source)`, part one of
/// [`EMAIL_PARTS`]). The HTML template escapes what it inserts, the others
/// do not; an undefined variable is an error rather than empty text, so a
/// misspelt name fails `storywatch check` instead of a mail.
pub fn compile_email(
    parts: &[(&'static str, &str)],
) -> Result<minijinja::Environment<'static>, (&'static str, minijinja::Error)> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    for (part, source) in parts {
        env.add_template_owned(*part, source.to_string())
            .map_err(|e| (*part, e))?;
    }
    Ok(env)
}
