//! See Cargo.toml: ours against statrs for ln Gamma and digamma.

#[allow(dead_code)]
#[path = "../../../src/functions/clv/special.rs"]
mod special;

use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(f: impl Fn(f64) -> f64, xs: &[f64]) -> Duration {
    median(
        (0..9)
            .map(|_| {
                let started = Instant::now();
                let sum: f64 = xs.iter().map(|&x| f(black_box(x))).sum();
                black_box(sum);
                started.elapsed()
            })
            .collect(),
    )
}

fn main() {
    use statrs::function::gamma as statrs;
    let pi = std::f64::consts::PI;
    // mpmath at 40 digits, as in special.rs's unit tests.
    let ln_gamma = [
        (0.5, 0.5 * pi.ln()),
        (10.0, 362_880f64.ln()),
        (1e-3, 6.907_178_885_383_853),
        (100.5, 361.435_540_467_777_6),
        (0.2426, 1.319_785_475_090_792_2),
        (3.7, 1.428_072_326_665_387_9),
    ];
    let euler = 0.577_215_664_901_532_9;
    let digamma = [
        (1.0, -euler),
        (0.5, -euler - 2.0 * 2f64.ln()),
        (0.01, -100.560_885_457_868_67),
        (7.3, 1.917_820_335_637_986_1),
        (250.0, 5.519_459_584_531_046),
    ];
    let worst = |cases: &[(f64, f64)], f: &dyn Fn(f64) -> f64| {
        cases
            .iter()
            .map(|&(x, want)| ((f(x) - want) / want).abs())
            .fold(0.0, f64::max)
    };
    println!(
        "largest relative error: ln_gamma ours {:.1e}, statrs {:.1e}; digamma ours {:.1e}, statrs {:.1e}",
        worst(&ln_gamma, &special::ln_gamma),
        worst(&ln_gamma, &statrs::ln_gamma),
        worst(&digamma, &special::digamma),
        worst(&digamma, &statrs::digamma),
    );
    let xs: Vec<f64> = (0..1_000_000).map(|i| 0.05 + f64::from(i) * 1e-4).collect();
    println!(
        "1M arguments in (0.05, 100), median of 9: ln_gamma ours {:?}, statrs {:?}; digamma ours {:?}, statrs {:?}",
        time(special::ln_gamma, &xs),
        time(statrs::ln_gamma, &xs),
        time(special::digamma, &xs),
        time(statrs::digamma, &xs),
    );
}
