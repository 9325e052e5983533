//! The integration tests: one test binary, so DataFusion is linked once
//! rather than once per file. The folders mirror `src/` (and `queries/`
//! for the bundled SQL); `common` holds the shared helpers. One suite:
//! `cargo test --test integration ingest::record_shapes`.
//!
//! The slow tests (the kill points of `run::crash_safety`, the generated
//! company of `run::scale`, the month-end backfills of `run::bundled`,
//! `storage::faults`, the page in Chromium, checkov) run only when
//! `ADVOCACY_SLOW_TESTS=1`, which `scripts/test.sh` sets; without it they
//! pass at once, saying on stderr that they were skipped
//! ([`common::slow_suite`]). `cluster` needs `--features ballista`, which
//! the script also passes.

mod common;

mod cli;
#[cfg(feature = "ballista")]
mod cluster;
mod config;
mod deploy;
mod diff;
mod functions;
mod generate;
mod ingest;
mod lock;
mod page;
mod pii;
mod pipeline;
mod queries;
mod run;
mod storage;
