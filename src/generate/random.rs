//! The seeded random stream every draw of the generator comes from.
//!
//! No `rand`: its algorithms may change between releases, and byte-identical
//! output for the same seed is what committed testdata and reproducible
//! benchmarks need. xoshiro256** and the samplers below are a few dozen
//! lines whose output is fixed forever.

use sha2::{Digest, Sha256};

/// xoshiro256** seeded through splitmix64: tiny, fast, and fixed forever,
/// which is what byte-identical output needs.
pub(super) struct Rng {
    s: [u64; 4],
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// One independent stream per (purpose, index): changing how one thing
    /// is drawn does not reshuffle everything else, so diffs of committed
    /// testdata stay small when the generator evolves.
    pub(super) fn stream(seed: u64, purpose: u64, index: u64) -> Rng {
        let mut x = seed
            ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ index.wrapping_add(1).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7);
        Rng {
            s: [
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
                splitmix64(&mut x),
            ],
        }
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform integer in [lo, hi).
    pub(super) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(super) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub(super) fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Marsaglia-Tsang; purchase rates across customers are Gamma in BG/NBD.
    pub(super) fn gamma(&mut self, shape: f64, scale: f64) -> f64 {
        if shape < 1.0 {
            let u = self.unit().max(f64::MIN_POSITIVE);
            return self.gamma(shape + 1.0, scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.unit();
            if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v * scale;
            }
        }
    }

    /// Dropout probabilities across customers are Beta in BG/NBD.
    pub(super) fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }

    pub(super) fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    pub(super) fn weighted<T: Copy>(&mut self, items: &[(T, f64)]) -> T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for &(item, w) in items {
            if x < w {
                return item;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
}

/// Stream purposes; the numbers are part of the output's identity, so never
/// renumber them.
pub(super) mod stream {
    pub const SIGNUP: u64 = 1;
    pub const PROFILE: u64 = 2;
    pub const ORDERS: u64 = 3;
    pub const REFERRED: u64 = 4;
    pub const INVITES: u64 = 5;
    pub const NPS: u64 = 6;
    pub const NPS_MONTH: u64 = 7;
    pub const REVIEWS: u64 = 8;
    pub const ANON_REVIEWS: u64 = 9;
    pub const BRAND_TWEETS: u64 = 10;
    pub const TWEETS: u64 = 11;
    pub const X_CROWD: u64 = 12;
    pub const COMMUNITY: u64 = 13;
    pub const COMMUNITY_CROWD: u64 = 14;
    pub const SATISFACTION: u64 = 15;
    pub const SPEND: u64 = 16;
}

/// Ids that look like the source system's, derived by hashing so they do
/// not depend on how many random draws came before.
pub(super) fn stable_hex(seed: u64, kind: &str, n: u64, len: usize) -> String {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(kind.as_bytes());
    h.update(n.to_le_bytes());
    let mut s = hex::encode(h.finalize());
    s.truncate(len);
    s
}

/// A cheap hash of (seed, kind, n) for choices that must be recomputable
/// from an index alone (which customers are planted advocates, ids).
pub(super) fn hash64(seed: u64, kind: u64, n: u64) -> u64 {
    let mut x =
        seed ^ kind.wrapping_mul(0xA076_1D64_78BD_642F) ^ n.wrapping_mul(0xE703_7ED1_A0B4_28DB);
    splitmix64(&mut x)
}
