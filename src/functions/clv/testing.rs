//! What the models' unit tests share: the CDNOW sample, the published
//! CDNOW parameters and customer 1 of Fader, Hardie & Lee (2005), and float
//! comparisons.
//!
//! The CDNOW summary is not in the repository: `scripts/test.sh` downloads
//! the `lifetimes` wheel that ships it and points ADVOCACY_CDNOW_SUMMARY at
//! `lifetimes/datasets/cdnow_customers_summary_with_transactions.csv`
//! (columns ID, x, t_x, T, zbar; 2,357 customers, 39-week calibration).

use super::{BgNbd, Rfm};

/// Published CDNOW parameters (Fader, Hardie & Lee 2005).
pub const CDNOW: BgNbd = BgNbd {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

pub const CUSTOMER_1: Rfm = Rfm {
    frequency: 2.0,
    recency: 30.43,
    age: 38.86,
};

pub fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-300)
}

#[track_caller]
pub fn assert_close(got: f64, want: f64, rel: f64) {
    assert!(
        close(got, want, rel),
        "got {got}, want {want} (rel {rel:e}, off by {:e})",
        (got - want) / want
    );
}

pub fn numeric_gradient<const N: usize>(f: impl Fn([f64; N]) -> f64, at: [f64; N]) -> [f64; N] {
    let mut g = [0.0; N];
    for i in 0..N {
        let h = 1e-6 * at[i].abs().max(1e-3);
        let (mut hi, mut lo) = (at, at);
        hi[i] += h;
        lo[i] -= h;
        g[i] = (f(hi) - f(lo)) / (2.0 * h);
    }
    g
}

pub struct Customer {
    pub rfm: Rfm,
    pub monetary: f64,
}

pub fn cdnow() -> Vec<Customer> {
    let path = std::env::var("ADVOCACY_CDNOW_SUMMARY").unwrap_or_else(|_| {
        panic!(
            "ADVOCACY_CDNOW_SUMMARY is not set: run bash scripts/test.sh, which downloads it \
             (the CDNOW summary from the lifetimes wheel) and exports the variable"
        )
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read ADVOCACY_CDNOW_SUMMARY={path}: {e}"));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("empty CDNOW file")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    // Accept both the wheel's names (x, t_x, T, zbar) and lifetimes' renamed
    // ones (frequency, recency, T, monetary_value).
    let column = |names: &[&str]| -> usize {
        header
            .iter()
            .position(|h| names.contains(&h.as_str()))
            .unwrap_or_else(|| panic!("{path}: no column named any of {names:?} in {header:?}"))
    };
    let (cx, ctx, ct, cm) = (
        column(&["x", "frequency"]),
        column(&["t_x", "recency"]),
        column(&["t", "age"]),
        column(&["zbar", "monetary_value"]),
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<f64> = line
                .split(',')
                .map(|f| {
                    f.trim()
                        .parse()
                        .unwrap_or_else(|e| panic!("{path} line {}: {e}", i + 2))
                })
                .collect();
            Customer {
                rfm: Rfm {
                    frequency: fields[cx],
                    recency: fields[ctx],
                    age: fields[ct],
                },
                monetary: fields[cm],
            }
        })
        .collect()
}

pub fn assert_within(name: &str, got: f64, published: f64, rel: f64) {
    assert!(
        ((got - published) / published).abs() <= rel,
        "{name}: got {got}, published {published} (tolerance {rel:e} relative)"
    );
}
