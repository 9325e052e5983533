//! The bundled SQL (`queries/`): each report on a fixture worked out by hand.

mod activity;
mod advocates;
mod as_of_run_date;
mod clv;
mod clv_backtest;
mod currencies;
mod nps;
mod referral_attribution;
mod unit_tests;
mod value;
