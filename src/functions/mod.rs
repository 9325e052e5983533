//! SQL functions that SQL cannot express well, in Rust: the CLV models
//! (BG/NBD and Gamma-Gamma, [`clv`]) fitted by two aggregates ([`fit`])
//! and scored by four scalar functions ([`score`]), `local_time`
//! ([`local_time`]), which cuts days in the run's time zone, and
//! `text_sentiment` ([`sentiment`]), for social exports without one. Frequency,
//! recency and age are in weeks, as `int_customer_rfm` gives them.

pub mod clv;
pub mod fit;
pub mod local_time;
pub mod score;
pub mod sentiment;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Every function of ours: whatever builds a session registers this set.
pub struct Functions {
    pub scalar: Vec<ScalarUDF>,
    pub aggregate: Vec<AggregateUDF>,
}

pub fn all() -> Functions {
    Functions {
        scalar: vec![
            ScalarUDF::from(score::BgNbdPAlive::default()),
            ScalarUDF::from(score::BgNbdExpectedPurchases::default()),
            ScalarUDF::from(score::GammaGammaExpectedValue::default()),
            ScalarUDF::from(score::ClvDiscounted::default()),
            ScalarUDF::from(local_time::LocalTime::default()),
            ScalarUDF::from(sentiment::TextSentiment::default()),
        ],
        aggregate: vec![
            AggregateUDF::from(fit::BgNbdFit::default()),
            AggregateUDF::from(fit::GammaGammaFit::default()),
        ],
    }
}

/// Registers [`all`] on a session.
pub fn register(ctx: &SessionContext) {
    let functions = all();
    for udf in functions.scalar {
        ctx.register_udf(udf);
    }
    for udaf in functions.aggregate {
        ctx.register_udaf(udaf);
    }
}
