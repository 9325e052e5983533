//! advocacy: a nightly batch job that turns CRM, review-site and social
//! exports into a customer-advocacy warehouse of Parquet report tables.
//!
//! The data flow is the module layout:
//! - [`config`] reads the YAML (sources and their mappings, `${VAR}`
//!   secrets, units) and [`storage`] turns its paths and URLs into object
//!   stores (and writes Parquet to them); [`lock`] keeps one run per
//!   warehouse;
//! - [`ingest`] loads exports into the raw zone, which [`schema`] defines,
//!   and quarantines what does not fit; [`freshness`] checks what each
//!   source owes the run (rows, a recent newest record);
//! - [`pipeline`] runs the SQL models on the DataFusion session of
//!   [`engine`], with our SQL functions from [`functions`], tests the data
//!   and publishes the reports, and [`page`] draws them on the run's
//!   HTML page;
//! - [`run`] ties the steps together for the nightly command and
//!   [`inspect`] holds the read-only commands (validate, dag, test, query);
//! - [`generate`] writes synthetic exports to try it all on;
//! - [`clock`] (time zones), [`pii`] (hashing and redaction), [`timing`],
//!   [`state_format`] (versions of state files) and [`kill_point`] (crash
//!   tests) are the small helpers they share.

pub mod blocking;
pub mod clock;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod config;
pub mod diff;
pub mod engine;
pub mod freshness;
pub mod functions;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod kill_point;
pub mod lock;
pub mod page;
pub mod pii;
pub mod pipeline;
pub mod run;
pub mod schema;
pub mod shutdown;
pub mod state_format;
pub mod storage;
pub mod timing;
