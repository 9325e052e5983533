//! The nightly run end to end (`src/run.rs`): the bundled data, unattended nights, crashes and scale.

mod bundled;
mod crash_safety;
mod scale;
mod unattended;
