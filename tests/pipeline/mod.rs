//! The SQL pipeline (`src/pipeline/`): models, data tests, selection, publishing, and small or partial data.

mod build;
mod contract;
mod incremental;
mod lineage;
mod partial_data;
mod reuse;
mod small_company;
mod unit_tests;
