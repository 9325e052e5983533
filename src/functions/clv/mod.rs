//! Customer lifetime value: the BG/NBD purchase model (Fader, Hardie & Lee
//! 2005, "Counting your customers the easy way") and the Gamma-Gamma spend
//! model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999),
//! one file each, laid out as the `lifetimes` package lays them out.
//!
//! Pure numerics with no query engine attached, so the maths can be tested
//! against the published CDNOW results on its own and called from any UDF
//! (`functions::fit` and `functions::score`). Time is measured in weeks throughout, as in the
//! papers.
//!
//! Robustness choices, all driven by fitting real, messy customer bases:
//! - parameters are optimised on the log scale (all four/three are positive,
//!   and their scales differ by orders of magnitude; [`optimize`]);
//! - the two BG/NBD likelihood branches are combined with log-sum-exp, so
//!   customers with hundreds of purchases neither overflow nor underflow;
//! - identical customers are collapsed into weights before fitting: real
//!   RFM summaries (whole days) have few distinct (x, t_x, T) triples,
//!   which is what lets a million customers fit in well under a second;
//! - the conditional expectation's Gauss hypergeometric function is summed on
//!   the log scale and switched to its 1 - z connection formula for long
//!   horizons, and the removable singularities of the closed form (a = 1,
//!   a + b + x - 1 <= 0) are stepped around instead of producing NaN
//!   ([`special`]).

mod bg_nbd;
mod discount;
mod gamma_gamma;
mod input;
mod optimize;
mod parallel;
mod special;
#[cfg(test)]
mod testing;

pub use bg_nbd::{BgNbd, BgNbdFit, fit_bg_nbd};
pub use discount::{discounted_clv, discounted_purchases_if_alive};
pub use gamma_gamma::{GammaGamma, GammaGammaFit, fit_gamma_gamma};
pub use input::{FitError, Rfm};
