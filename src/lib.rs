//! advocacy: a nightly batch job that turns CRM, review-site and social
//! exports into a customer-advocacy warehouse of Parquet report tables.
//!
//! The data flow is the module layout: [`config`] and [`storage`] set up,
//! [`ingest`] loads exports into the raw zone ([`schema`] defines it),
//! [`pipeline`] runs the SQL models and publishes reports, [`run`] ties
//! the steps together for the command line.

pub mod clock;
pub mod config;
pub mod engine;
pub mod functions;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod kill_point;
pub mod lock;
pub mod memory_pool;
pub mod parquet_file;
pub mod pii;
pub mod pipeline;
pub mod run;
pub mod schema;
pub mod storage;
pub mod timing;
