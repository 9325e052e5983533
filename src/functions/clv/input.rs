//! What the fits take: customer summaries in weeks, the errors bad rows
//! give, and the tables of distinct values that identical customers
//! collapse into.

/// One customer's purchase summary in weeks, as the BG/NBD papers define it:
/// `frequency` = number of repeat purchase days (x), `recency` = time of the
/// last purchase since the first (t_x), `age` = time from the first purchase
/// to the end of calibration (T).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rfm {
    pub frequency: f64,
    pub recency: f64,
    pub age: f64,
}

/// Why a model could not be fitted. Bad rows are reported by position so the
/// caller can point at the offending customer instead of guessing.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("{model}: no customers to fit{detail}")]
    NoCustomers { model: &'static str, detail: String },
    #[error("{model}: customer row {index}: {reason}")]
    InvalidRow {
        model: &'static str,
        index: usize,
        reason: String,
    },
    #[error("{model}: the data cannot identify the model: {reason}")]
    Unidentifiable { model: &'static str, reason: String },
    #[error("{model}: the log-likelihood is not finite at any starting point")]
    NotFinite { model: &'static str },
}

/// Distinct value table: rows refer to values by index so each evaluation
/// takes one logarithm per distinct value instead of one per row.
pub(super) fn distinct_index(values: &[f64], v: f64) -> u32 {
    match values.binary_search_by(|probe| probe.total_cmp(&v)) {
        Ok(i) => i as u32,
        Err(_) => unreachable!("value table built from the same data"),
    }
}

pub(super) fn canonical(v: f64) -> f64 {
    if v == 0.0 { 0.0 } else { v } // -0.0 and 0.0 are the same customer
}
