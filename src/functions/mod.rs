//! Statistics SQL cannot express well, in Rust: the CLV models (BG/NBD and
//! Gamma-Gamma), fitted and scored here and exposed to SQL as functions.

pub mod clv;
pub mod sql;
