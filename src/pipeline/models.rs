//! Finding the SQL models: every `queries/**/<name>.sql` defines table
//! `<name>`; those under `queries/reports/` are published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PipelineError;

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    /// Path shown in messages: the queries folder joined with the file.
    pub file: PathBuf,
    pub sql: String,
    /// Published when it lives under `reports/`.
    pub publish: bool,
    /// The report it is published as: its name, or `<name>_v<N>` when
    /// models.yml declares contract version N >= 2 (see `contract`).
    pub report: String,
    /// Set for the previous version of a report still published beside a
    /// declared newer one: that version's number. Its SQL is the recorded.
    pub previous_version: Option<u32>,
    /// models.yml's `incremental:` (see `super::incremental`).
    pub incremental: Option<super::spec::IncrementalSpec>,
}

pub fn discover(queries: &Path) -> Result<Vec<Model>, PipelineError> {
    let mut files = Vec::new();
    collect_sql_files(queries, &mut files)
        .map_err(|e| PipelineError::Io(format!("cannot read {}: {e}", queries.display())))?;
    files.sort();
    let mut by_name: BTreeMap<String, Model> = BTreeMap::new();
    for file in files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let relative = file.strip_prefix(queries).unwrap_or(&file);
        let publish = relative
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == "reports");
        let sql = std::fs::read_to_string(&file)
            .map_err(|e| PipelineError::Io(format!("cannot read {}: {e}", file.display())))?;
        if let Some(existing) = by_name.get(&name) {
            return Err(PipelineError::Invalid(vec![format!(
                "model {name} is defined twice: {} and {}",
                existing.file.display(),
                file.display()
            )]));
        }
        by_name.insert(
            name.clone(),
            Model {
                report: name.clone(),
                previous_version: None,
                incremental: None,
                name,
                file,
                sql,
                publish,
            },
        );
    }
    Ok(by_name.into_values().collect())
}

fn collect_sql_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_sql_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}
