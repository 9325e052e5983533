//! The command line (`src/cli.rs`, `src/main.rs`).

mod contract;
mod exit_codes;
