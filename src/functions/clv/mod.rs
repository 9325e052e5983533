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
//! - expected purchases (the conditional expectation of eq. 10) are summed
//!   as a series of positive terms, which neither cancels where the closed
//!   form does (a fit at the no-drop-out edge: b / |a - 1| in the trillions)
//!   nor has its removable singularity at a = 1; only for z very close to 1
//!   is the closed form used, its Gauss hypergeometric function summed on
//!   the log scale and switched to its 1 - z connection formula
//!   ([`special`]), and a + b + x - 1 <= 0 is stepped around instead of
//!   producing NaN.

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
