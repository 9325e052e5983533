//! Ingest (`src/ingest/`): every format, mapping and record shape, hostile input, and loading incrementally.

mod formats;
mod hostile_exports;
mod incremental;
mod real_exports;
mod record_shapes;
