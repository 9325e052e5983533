//! `engine:`: where the models' queries run.

use serde::Deserialize;

use super::text::Text;

/// `engine:`: the models run in this process (`local`, the default) or on
/// a Ballista cluster (`ballista`, with the scheduler's `df://host:port`).
/// Ingest always runs here: it is streaming I/O, not a query.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// `local` or `ballista`; may be `${VAR}` (`"${ADVOCACY_ENGINE:-local}"`),
    /// so one config serves a deployment with and without a cluster.
    #[serde(default, deserialize_with = "engine_kind")]
    #[schemars(with = "Text")]
    pub kind: EngineKind,
    pub scheduler: Option<Text>,
}

/// What a binary built without the `ballista` feature says when a config
/// or a command asks for the cluster.
pub const WITHOUT_BALLISTA: &str = "this advocacy binary was built without Ballista; \
     build one with `cargo build --release --features ballista` \
     (deploy/Dockerfile's image has it)";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    #[default]
    Local,
    Ballista,
}

/// `engine.kind` as written, after `${VAR}` substitution.
fn engine_kind<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<EngineKind, D::Error> {
    let text = Text::deserialize(deserializer)?;
    match text.as_str() {
        "local" => Ok(EngineKind::Local),
        "ballista" => Ok(EngineKind::Ballista),
        other => Err(serde::de::Error::custom(format!(
            "kind {other:?} is neither local nor ballista"
        ))),
    }
}

impl EngineSettings {
    /// The scheduler's `df://host:port` when the engine is a cluster.
    pub fn scheduler_url(&self) -> Option<&str> {
        match self.kind {
            EngineKind::Local => None,
            EngineKind::Ballista => self.scheduler.as_ref().map(Text::as_str),
        }
    }

    pub(super) fn check(&self) -> Result<(), String> {
        if self.kind == EngineKind::Local {
            return Ok(());
        }
        if !cfg!(feature = "ballista") {
            return Err(format!("engine.kind: ballista: {WITHOUT_BALLISTA}"));
        }
        let Some(scheduler) = &self.scheduler else {
            return Err(
                "engine.scheduler: kind ballista needs the scheduler's address, e.g. \"df://scheduler:50050\""
                    .into(),
            );
        };
        let invalid = |why: &str| {
            format!(
                "engine.scheduler: {:?} {why} (expected df://host:port)",
                scheduler.as_str()
            )
        };
        let url = url::Url::parse(scheduler.as_str()).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "df" {
            return Err(invalid("is not a df:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) || url.port().is_none() {
            return Err(invalid("has no host and port"));
        }
        Ok(())
    }
}
