//! Wall-clock figures of a run, per file, per model and per phase, for the
//! run record and the end-of-run summary.

use std::time::Instant;

use serde::Serialize;

/// Rows per second, 0 when nothing was timed.
pub fn per_second(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

/// One phase of a run: ingest (rows read from exports), models (rows
/// written), data tests (rows of the models tested) and publishing (rows
/// of the reports published).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub seconds: f64,
    pub rows: u64,
    pub rows_per_second: f64,
}

impl PhaseTiming {
    /// A phase that started at `started` and ends now.
    pub fn since(phase: &str, started: Instant, rows: u64) -> PhaseTiming {
        let seconds = started.elapsed().as_secs_f64();
        PhaseTiming {
            phase: phase.to_string(),
            seconds,
            rows,
            rows_per_second: per_second(rows, seconds),
        }
    }
}

/// The phases as a fixed-width table.
pub fn phase_table(phases: &[PhaseTiming]) -> String {
    let mut out = format!(
        "{:<10} {:>9} {:>12} {:>12}\n",
        "phase", "seconds", "rows", "rows/s"
    );
    for p in phases {
        out.push_str(&format!(
            "{:<10} {:>9.2} {:>12} {:>12.0}\n",
            p.phase, p.seconds, p.rows, p.rows_per_second
        ));
    }
    out
}
