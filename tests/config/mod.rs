//! The config (`src/config/`).

mod changes;
