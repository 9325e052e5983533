//! What the generator plants, so tests and benchmarks at scale can check
//! that the reports recover it: the parameters of the purchase and spend
//! processes, a month with a known NPS dip, and advocates of each persona.

use chrono::NaiveDate;

use super::calendar::WEEK_MS;

/// How much the simulated customers buy and post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Profile {
    /// About 3 orders and 1.8 social events per customer over the
    /// bundled period: a typical retailer's CRM.
    #[default]
    Standard,
    /// About 20 orders and 10 social events per customer: 20 million
    /// orders for a million customers, for benchmarks.
    Heavy,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Standard => "standard",
            Profile::Heavy => "heavy",
        }
    }

    /// Repeat purchases per customer follow BG/NBD exactly with these
    /// parameters (time in weeks).
    pub fn bg_nbd(self) -> BgNbdTruth {
        match self {
            Profile::Standard => BgNbdTruth {
                r: 0.9,
                alpha: 14.0,
                a: 1.2,
                b: 4.0,
            },
            Profile::Heavy => BgNbdTruth {
                r: 1.5,
                alpha: 2.5,
                a: 1.0,
                b: 30.0,
            },
        }
    }

    /// The value of each paid order, in USD, follows Gamma-Gamma exactly.
    pub fn gamma_gamma(self) -> GammaGammaTruth {
        GammaGammaTruth {
            p: 6.0,
            q: 4.0,
            v: 35.0,
        }
    }

    /// Multiplies every social posting rate.
    pub(super) fn social_rate(self) -> f64 {
        match self {
            Profile::Standard => 1.0,
            Profile::Heavy => 6.5,
        }
    }
}

/// BG/NBD (Fader, Hardie & Lee 2005): purchase rate lambda ~ Gamma(r,
/// rate alpha) per week, drop-out probability after each repeat purchase
/// p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbdTruth {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Gamma-Gamma (Fader, Hardie & Lee 2005b): order value z ~ Gamma(p, rate
/// nu), nu ~ Gamma(q, rate v) across customers; values in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGammaTruth {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

/// The advocate personas of `queries/reports/advocates.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persona {
    Educator,
    StatusSeeker,
    Validator,
    Collaborator,
}

impl Persona {
    pub fn name(self) -> &'static str {
        match self {
            Persona::Educator => "educator",
            Persona::StatusSeeker => "status_seeker",
            Persona::Validator => "validator",
            Persona::Collaborator => "collaborator",
        }
    }

    /// What the generator gives a planted advocate of this persona, for
    /// the README.
    pub fn planted_behaviour(self) -> &'static str {
        match self {
            Persona::Educator => {
                "linked community handle, 6 to 9 community answers in the last 180 days, a promoter, one 5-star review"
            }
            Persona::StatusSeeker => {
                "linked X handle with 20,000 to 80,000 followers, 4 to 6 positive mentions and reposts in the last 180 days, a promoter, one 5-star review; no community handle"
            }
            Persona::Validator => {
                "a customer for more than 60 weeks, a promoter, three 5-star reviews under a linked name in the last 180 days; no X or community handle"
            }
            Persona::Collaborator => {
                "a customer for 12 to 44 weeks, three commented survey answers (promoter) and three 5-star reviews under a linked name in the last 180 days; no X or community handle"
            }
        }
    }
}

/// One customer in 200 is a planted advocate; its persona depends on its
/// tenure at the end of the period (validators need more than a year,
/// collaborators less, so the persona rules cannot pick another one).
pub(super) const PLANTED_ONE_IN: u64 = 200;

pub(super) fn planted_persona(hash: u64, signup_ms: i64, end_ms: i64) -> Option<Persona> {
    if !hash.is_multiple_of(PLANTED_ONE_IN) {
        return None;
    }
    let tenure_weeks = (end_ms - signup_ms) / WEEK_MS;
    let pick = (hash >> 32) % 4;
    match tenure_weeks {
        w if w >= 60 => Some(match pick {
            0 => Persona::Educator,
            1 => Persona::StatusSeeker,
            _ => Persona::Validator,
        }),
        12..=44 => Some(match pick {
            0 => Persona::Educator,
            1 => Persona::StatusSeeker,
            _ => Persona::Collaborator,
        }),
        w if w >= 8 => Some(if pick.is_multiple_of(2) {
            Persona::Educator
        } else {
            Persona::StatusSeeker
        }),
        _ => None,
    }
}

/// A planted advocate, by CRM id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedAdvocate {
    pub customer_id: String,
    pub persona: Persona,
}

/// Everything planted, returned by `generate` and written to the README.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    pub profile: Profile,
    pub bg_nbd: BgNbdTruth,
    pub gamma_gamma: GammaGammaTruth,
    /// First day of the month whose NPS answers were all pulled down.
    pub nps_dip_month: NaiveDate,
    pub planted_advocates: Vec<PlantedAdvocate>,
}

/// How far the dip month pulls every NPS score down (on the 0..10 scale).
pub(super) const NPS_DIP: f64 = 1.5;
