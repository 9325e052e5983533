//! Config strings: `${VAR}` substitution from the environment, and the
//! redaction that keeps every substituted value (a credential, a salt) out
//! of logs and errors.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A string from the config with `${VAR}` / `${VAR:-default}` already
/// substituted. Values that came from the environment are remembered so
/// [`redact`] can keep them out of every log line and error.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug output ends up in logs; it must never show a credential.
        write!(f, "{:?}", redact(&self.0))
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

/// A string, number or boolean; `${VAR}` and `${VAR:-default}` take a value
/// from the environment.
impl schemars::JsonSchema for Text {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Text".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
                Ok(v.to_string())
            }
        }
        let raw = deserializer.deserialize_any(ScalarVisitor)?;
        substitute_env(&raw, |name| std::env::var(name).ok())
            .map(Text)
            .map_err(de::Error::custom)
    }
}

fn secrets() -> &'static Mutex<BTreeSet<String>> {
    static SECRETS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Masks `value` in every message from now on, as if it had come from the
/// environment: a salt or a key written into the config file itself is
/// as secret as one given by `${VAR}`.
pub fn mark_secret(value: &str) {
    if !value.is_empty() {
        let mut secrets = secrets().lock().unwrap_or_else(|e| e.into_inner());
        secrets.insert(value.to_string());
    }
}

/// Whether a `storage:` option holds a credential (`secret_access_key`,
/// `sas_key`, `token`, `password`, a service account key...), by its name.
pub fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "key", "token", "password", "credential", "sas"]
        .iter()
        .any(|word| name.contains(word))
        && name != "access_key_id"
        && name != "aws_access_key_id"
}

/// Replaces every value substituted from the environment with `***`.
/// Short values are left alone: masking "1" or "us" would garble messages
/// without protecting anything. Only whole words are masked, so a secret
/// that happens to be a word ("test" in a local S3 server's keys) does not
/// turn "tests" into "***s" in the summary and the run record.
pub fn redact(message: &str) -> String {
    let secrets = secrets().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = message.to_string();
    for secret in secrets.iter().rev() {
        if secret.len() >= 4 {
            out = mask_word(&out, secret);
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with each occurrence of `secret` that is not part of a longer
/// word replaced by `***`.
fn mask_word(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(secret) {
        let before = rest[..pos].chars().last().or(out.chars().last());
        let after = rest[pos + secret.len()..].chars().next();
        out.push_str(&rest[..pos]);
        if before.is_some_and(is_word_char) || after.is_some_and(is_word_char) {
            out.push_str(secret);
        } else {
            out.push_str("***");
        }
        rest = &rest[pos + secret.len()..];
    }
    out.push_str(rest);
    out
}

/// The names of the variables `${VAR}` or `${VAR:-default}` in `raw`
/// refers to (`$$` is a literal `$`, not a reference).
pub fn variables(raw: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some((expr, tail)) = after.strip_prefix('{').and_then(|b| b.split_once('}')) {
            let name = expr.split_once(":-").map_or(expr, |(n, _)| n);
            names.push(name.to_string());
            rest = tail;
        } else {
            rest = after;
        }
    }
    names
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
pub fn substitute_env(
    raw: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated `${{` in {raw:?}"))?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            match lookup(name) {
                Some(value) => {
                    secrets()
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(value.clone());
                    out.push_str(&value);
                }
                None => match default {
                    Some(d) => out.push_str(d),
                    None => {
                        return Err(format!(
                            "environment variable {name} is not set (set it, or write ${{{name}:-default}})"
                        ));
                    }
                },
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_a_value_refers_to() {
        assert_eq!(variables("${A}"), ["A"]);
        assert_eq!(variables("x${A:-d}y${B}"), ["A", "B"]);
        assert_eq!(variables("$${A} literal"), Vec::<String>::new());
        assert_eq!(variables("plain"), Vec::<String>::new());
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(substitute_env("a${SET}b", env).unwrap(), "avalueb");
        assert_eq!(substitute_env("${UNSET:-x}", env).unwrap(), "x");
        assert_eq!(substitute_env("$$5 and $x", env).unwrap(), "$5 and $x");
        let err = substitute_env("${UNSET}", env).unwrap_err();
        assert!(err.contains("UNSET is not set"), "{err}");
    }

    #[test]
    fn only_whole_words_are_masked() {
        assert_eq!(mask_word("data tests: 3", "test"), "data tests: 3");
        assert_eq!(mask_word("key=test&x=test", "test"), "key=***&x=***");
        assert_eq!(
            mask_word("\"test\" attest test_1 test", "test"),
            "\"***\" attest test_1 ***"
        );
        assert_eq!(mask_word("s3://k:testtest@h", "test"), "s3://k:testtest@h");
    }
}
