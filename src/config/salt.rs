//! The PII salt: where it may come from (the environment, a secret file,
//! or a file that says it is public), read once when the config loads.

use super::{Config, Pii, Text, text};

impl Config {
    /// `run.pii_salt_file`: the salt is the file's content (trimmed).
    pub(super) fn read_salt_file(&mut self) -> Result<(), String> {
        let Some(file) = &self.run.pii_salt_file else {
            return Ok(());
        };
        if self.run.pii_salt.is_some() {
            return Err("run: set pii_salt or pii_salt_file, not both".into());
        }
        let path = self.base_dir.join(file.as_str());
        let salt = std::fs::read_to_string(&path)
            .map_err(|e| format!("run.pii_salt_file: cannot read {}: {e}", path.display()))?;
        let salt = salt.trim();
        if salt.is_empty() {
            return Err(format!("run.pii_salt_file: {} is empty", path.display()));
        }
        self.run.pii_salt = Some(Text(salt.to_string()));
        Ok(())
    }

    /// A salt that hashes addresses must be secret: taken from the
    /// environment (`${VAR}`, set) or a secret file. Written in the config,
    /// or left to a `${VAR:-default}` whose variable is unset, anyone who
    /// reads the file can reverse every hash; only `pii_salt_public: true`
    /// allows that, for demo and test data.
    pub(super) fn check_salt_origin(&self, document: &serde_yaml::Value) -> Result<(), String> {
        if self.run.pii == Pii::Keep || self.run.pii_salt_file.is_some() || self.run.pii_salt_public
        {
            return Ok(());
        }
        let written = match document.get("run").and_then(|run| run.get("pii_salt")) {
            Some(serde_yaml::Value::String(text)) => text.clone(),
            // `pii_salt: 8675309` is written in the file as much as a string.
            Some(serde_yaml::Value::Number(n)) => n.to_string(),
            Some(serde_yaml::Value::Bool(b)) => b.to_string(),
            _ => return Ok(()), // no salt at all: `check` says so
        };
        let how = "take it from the environment (pii_salt: \"${ADVOCACY_PII_SALT}\") or a \
                   secret file (pii_salt_file: /run/secrets/pii_salt); for demo or test data \
                   whose hashes may be reversed, say so with pii_salt_public: true";
        let variables = text::variables(&written);
        if variables.is_empty() {
            return Err(format!(
                "run.pii_salt is written in the config file, where anyone who reads it can \
                 reverse the hashes: {how}"
            ));
        }
        for name in variables {
            if std::env::var(&name).map_or(true, |v| v.is_empty()) {
                return Err(format!(
                    "run.pii_salt: {name} is not set, and the salt may not fall back to a \
                     default written in the config file: {how}"
                ));
            }
        }
        Ok(())
    }
}
