//! User templates for webhook bodies (minijinja), compiled in one place.
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
