//! `--select`: `name`, `name+` (and what reads it), `+name` (and what it
//! reads), `tag:x` (tags from models.yml); several are combined.

use std::collections::{BTreeMap, BTreeSet};

use super::dag::{ancestors, descendants};
use super::diagnostics::closest;
use super::spec::ModelsFile;

pub fn select(
    patterns: &[String],
    deps: &BTreeMap<String, BTreeSet<String>>,
    spec: &ModelsFile,
) -> Result<BTreeSet<String>, String> {
    let mut selected = BTreeSet::new();
    for pattern in patterns
        .iter()
        .flat_map(|p| p.split([',', ' ']))
        .filter(|p| !p.is_empty())
    {
        if let Some(tag) = pattern.strip_prefix("tag:") {
            let tagged: Vec<_> = spec
                .models
                .iter()
                .filter(|m| m.tags.iter().any(|t| t == tag))
                .map(|m| m.name.clone())
                .collect();
            if tagged.is_empty() {
                return Err(format!(
                    "--select {pattern}: no model in models.yml has tag {tag:?}"
                ));
            }
            selected.extend(tagged);
            continue;
        }
        let with_ancestors = pattern.starts_with('+');
        let with_descendants = pattern.ends_with('+');
        let name = pattern.trim_matches('+');
        if !deps.contains_key(name) {
            let known: Vec<String> = deps.keys().cloned().collect();
            let hint = closest(name, &known)
                .map(|c| format!("; did you mean {c}?"))
                .unwrap_or_default();
            return Err(format!("--select {pattern}: no model named {name}{hint}"));
        }
        selected.insert(name.to_string());
        if with_ancestors {
            selected.extend(ancestors(deps, name));
        }
        if with_descendants {
            selected.extend(descendants(deps, name));
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_combine() {
        let deps: BTreeMap<String, BTreeSet<String>> = [
            ("a", vec!["raw_x"]),
            ("b", vec!["a"]),
            ("c", vec!["b"]),
            ("d", vec!["raw_x"]),
        ]
        .into_iter()
        .map(|(m, t)| (m.to_string(), t.into_iter().map(String::from).collect()))
        .collect();
        let spec: ModelsFile =
            serde_yaml::from_str("models:\n  - name: d\n    tags: [nightly]\n").unwrap();
        let pick = |p: &[&str]| {
            select(
                &p.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &deps,
                &spec,
            )
            .map(|s| s.into_iter().collect::<Vec<_>>())
        };
        assert_eq!(pick(&["b"]).unwrap(), ["b"]);
        assert_eq!(pick(&["b+"]).unwrap(), ["b", "c"]);
        assert_eq!(pick(&["+b"]).unwrap(), ["a", "b"]);
        assert_eq!(pick(&["+b+", "tag:nightly"]).unwrap(), ["a", "b", "c", "d"]);
        assert_eq!(pick(&["a,d"]).unwrap(), ["a", "d"]);
        assert_eq!(
            pick(&["bb"]).unwrap_err(),
            "--select bb: no model named bb; did you mean b?"
        );
        assert!(pick(&["tag:weekly"]).is_err());
    }
}
