//! Our SQL functions (`src/functions/`).

mod clv;
