//! The DataFusion session of a run: memory limit with spilling, one
//! partition per core, object stores and raw-zone tables registered; with
//! `engine: ballista`, the same session turned into a client of the
//! cluster ([`ballista`]).

#[cfg(feature = "ballista")]
pub mod ballista;
pub mod memory_pool;

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::Result;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::TrackConsumersPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::config::{Config, Pii};
use crate::ingest::raw_folder;
use crate::schema::Entity;
use crate::storage::Location;
use memory_pool::ActiveFairPool;

/// The session the models, data tests and ad-hoc queries run in: this
/// process's, or the cluster's when `engine.kind` is `ballista`.
pub async fn session(config: &Config) -> Result<SessionContext> {
    let local = local_session(config)?;
    match config.engine.scheduler_url() {
        None => Ok(local),
        #[cfg(feature = "ballista")]
        Some(scheduler) => ballista::connect(scheduler, local.state()).await,
        // Config::check refuses the kind first; this is for a config built
        // in code.
        #[cfg(not(feature = "ballista"))]
        Some(_) => Err(datafusion::error::DataFusionError::Configuration(
            crate::config::WITHOUT_BALLISTA.to_string(),
        )),
    }
}

/// A session that runs everything in this process, whatever the engine:
/// `validate` plans without data, so it needs no cluster.
pub fn local_session(config: &Config) -> Result<SessionContext> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = RuntimeEnvBuilder::new()
        // The pool shares the limit among the spilling operators that hold
        // memory (see memory_pool.rs for why not DataFusion's FairSpillPool);
        // the tracking wrapper names the largest consumers when it runs out.
        .with_memory_pool(Arc::new(TrackConsumersPool::new(
            ActiveFairPool::new(config.memory_limit_bytes()),
            NonZeroUsize::new(5).expect("non-zero"),
        )))
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::OsTmpDirectory),
        )
        .build_arc()?;
    // Each sort sets this much aside for merging what it spilled, outside
    // the fair share of the spilling operators. DataFusion's 10 MiB suits
    // gigabyte limits; under a small limit a plan with a few sorts would
    // hand all of it to merge reserves, so it scales with the limit.
    let merge_reserve = (config.memory_limit_bytes() / 64).clamp(256 * 1024, 10 * 1024 * 1024);
    let mut session_config = SessionConfig::new()
        .with_target_partitions(cores)
        .with_information_schema(true)
        .set_bool("datafusion.sql_parser.collect_spans", true)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
        .set_usize(
            "datafusion.execution.sort_spill_reservation_bytes",
            merge_reserve,
        );
    override_from_env(&mut session_config)?;
    let ctx = SessionContext::new_with_config_rt(session_config, runtime);
    crate::functions::register(&ctx);
    Ok(ctx)
}

/// Any DataFusion setting can be overridden for one run by its environment
/// variable (`datafusion.optimizer.prefer_hash_join` is
/// `DATAFUSION_OPTIMIZER_PREFER_HASH_JOIN`), on top of our defaults.
fn override_from_env(config: &mut SessionConfig) -> Result<()> {
    let keys: Vec<String> = config
        .options()
        .entries()
        .into_iter()
        .map(|e| e.key)
        .collect();
    for key in keys {
        let var = key.to_uppercase().replace('.', "_");
        if let Ok(value) = std::env::var(&var) {
            tracing::info!(setting = %key, value = %value, "engine setting from the environment");
            config.options_mut().set(&key, &value)?;
        }
    }
    Ok(())
}

/// Registers `raw_<entity>` for every entity over the raw zone, with the
/// canonical schema: an entity nobody loaded is an empty table, not an
/// error, and old files missing a newer column read it as null.
pub fn register_raw_tables(ctx: &SessionContext, warehouse: &Location, pii: Pii) -> Result<()> {
    warehouse.register(ctx);
    for entity in Entity::ALL {
        let url = ListingTableUrl::parse(warehouse.folder_url(&raw_folder(entity)))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let table_config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(entity.arrow_schema(pii == Pii::Keep));
        let table = ListingTable::try_new(table_config)?;
        ctx.register_table(entity.table_name(), Arc::new(table))?;
    }
    Ok(())
}

/// Models and the report page's charts may only query: DDL, DML, COPY and
/// SET are refused.
/// A name as a quoted SQL identifier (`"a ""b"""` for `a "b"`).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}
