//! Each source's fingerprint: what decides the values it stores, taken
//! from the YAML as written, so a change reloads its files.

use super::Config;

impl Config {
    /// Fills each source's [`SourceConfig::fingerprint`]. The mapping is
    /// taken from the YAML as a value with its keys sorted, so comments,
    /// layout, flow or block style and key order do not count; the glob is
    /// left out (widening it must not reload what it already matched).
    pub(super) fn set_fingerprints(&mut self, document: &serde_yaml::Value) -> Result<(), String> {
        let written = document
            .get("sources")
            .and_then(serde_yaml::Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        // The salt counts too, but not here: ingest adds a slow key derived
        // from it (`pii::salt_key`), so the fingerprints a manifest shows
        // cannot be used to test salt guesses cheaply.
        let settings = format!("pii={:?}\ntimezone={}\n", self.run.pii, self.run.timezone);
        // What releases before the salt key recorded, to recognise their
        // entries once (kept in memory only, never written).
        let legacy_settings = format!(
            "pii={:?}\nsalt={}\ntimezone={}\n",
            self.run.pii,
            self.salt(),
            self.run.timezone
        );
        for (source, value) in self.sources.iter_mut().zip(written) {
            let mut value = canonical_yaml(value);
            // Where a source's files are (path, follow_symlinks) and what
            // it owes (required, freshness) decide nothing about the rows
            // it stores.
            if let serde_yaml::Value::Mapping(map) = &mut value {
                for key in ["path", "required", "freshness", "follow_symlinks"] {
                    map.remove(key);
                }
            }
            let mapping = serde_yaml::to_string(&value).map_err(|e| e.to_string())?;
            source.fingerprint = crate::pii::sha256_hex(format!("{mapping}{settings}").as_bytes());
            source.legacy_fingerprint =
                crate::pii::sha256_hex(format!("{mapping}{legacy_settings}").as_bytes());
        }
        Ok(())
    }
}

/// The value with every mapping's keys in sorted order (tags and merges
/// kept as written).
fn canonical_yaml(value: serde_yaml::Value) -> serde_yaml::Value {
    use serde_yaml::Value;
    match value {
        Value::Mapping(map) => {
            let mut entries: Vec<(Value, Value)> = map
                .into_iter()
                .map(|(k, v)| (k, canonical_yaml(v)))
                .collect();
            entries.sort_by_key(|(k, _)| serde_yaml::to_string(k).unwrap_or_default());
            Value::Mapping(entries.into_iter().collect())
        }
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(canonical_yaml).collect()),
        Value::Tagged(tagged) => {
            let tagged = *tagged;
            Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: tagged.tag,
                value: canonical_yaml(tagged.value),
            }))
        }
        other => other,
    }
}
