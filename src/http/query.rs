//! The query string of a JSON API request, read strictly: a parameter the
//! endpoint does not know is refused (`?develping=true` would otherwise
//! list everything without a word), and so are a parameter given twice and
//! a value of the wrong kind. Each refusal has a stable code and says what
//! the endpoint does accept.

use std::collections::BTreeMap;

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// `unknown_parameter` or `bad_parameter` (also `bad_query`,
    /// `bad_cursor` from the endpoints).
    pub code: &'static str,
    pub message: String,
}

impl ParamError {
    pub fn bad(message: String) -> ParamError {
        ParamError {
            code: "bad_parameter",
            message,
        }
    }
}

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Reads `raw` for `endpoint`, which accepts the parameters `known`.
    pub fn parse(raw: Option<&str>, endpoint: &str, known: &[&str]) -> Result<Params, ParamError> {
        let mut params = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !known.contains(&name.as_ref()) {
                let accepted = if known.is_empty() {
                    "it takes none".to_string()
                } else {
                    format!("it takes {}", known.join(", "))
                };
                return Err(ParamError {
                    code: "unknown_parameter",
                    message: format!("{endpoint} has no parameter {name:?}: {accepted}"),
                });
            }
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(ParamError::bad(format!("{name:?} is given twice")));
            }
        }
        Ok(Params(params))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `true` or `false`.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ParamError> {
        match self.text(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ParamError::bad(format!(
                "{name}={other:?}: expected true or false"
            ))),
        }
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ParamError> {
        match self.text("limit") {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(ParamError::bad(format!(
                    "limit={text:?}: expected a number from 1 to {max}"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_refused() {
        let known = ["developing", "limit"];
        let p = Params::parse(Some("developing=true&limit=5"), "/api/stories", &known).unwrap();
        assert_eq!(p.flag("developing"), Ok(Some(true)));
        assert_eq!(p.limit(100, 1000), Ok(5));
        assert_eq!(
            Params::parse(None, "/x", &known).unwrap().limit(100, 1000),
            Ok(100)
        );

        let e = Params::parse(Some("develping=true"), "/api/stories", &known).unwrap_err();
        assert_eq!(e.code, "unknown_parameter");
        assert_eq!(
            e.message,
            "/api/stories has no parameter \"develping\": it takes developing, limit"
        );
        let e = Params::parse(Some("a=1"), "/api/status", &[]).unwrap_err();
        assert!(e.message.ends_with("it takes none"), "{e:?}");
        let e = Params::parse(Some("limit=1&limit=2"), "/x", &known).unwrap_err();
        assert_eq!(e.code, "bad_parameter");
        let p = Params::parse(Some("developing=yes&limit=0"), "/x", &known).unwrap();
        assert!(p
            .flag("developing")
            .unwrap_err()
            .message
            .contains("true or false"));
        assert!(p
            .limit(100, 1000)
            .unwrap_err()
            .message
            .contains("1 to 1000"));
    }
}
