//! SQL functions that SQL cannot express well, in Rust: the CLV models
//! (BG/NBD and Gamma-Gamma), fitted and scored here, and `local_time`,
//! which cuts days in the run's time zone.

pub mod clv;
pub mod local_time;
pub mod sql;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

/// Registers every function of ours on a session.
pub fn register(ctx: &SessionContext) {
    sql::register(ctx);
    ctx.register_udf(ScalarUDF::from(local_time::LocalTime::default()));
}
