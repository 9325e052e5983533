#!/usr/bin/env python3
"""Time the reference Python implementation (`lifetimes`) on a large RFM
summary, as the yardstick for advocacy's own CLV models
(src/functions/clv/; its Rust side is examples/clv_bench.rs, and the
ignored test `million_customers_fit_and_score` in tests/functions/clv.rs).

1. Generates a customer summary from the BG/NBD process, the same story
   and parameters as the Rust test: customers enter uniformly over 77 weeks
   (ages 7..545 days), purchase times are truncated to whole days and
   same-day purchases merge; spend per transaction is Gamma-Gamma. The
   same arguments give the same file (numpy's PCG64 with a fixed seed).
2. Times, on that summary, what a CLV report needs:
   BetaGeoFitter.fit, GammaGammaFitter.fit (repeat customers),
   conditional_expected_number_of_purchases_up_to_time (52 weeks) and
   customer_lifetime_value (12 months, 10 % a year, weekly data).

Needs lifetimes in a virtualenv (it works with numpy 2.4, scipy 1.17,
pandas 3.1 and Python 3.11):

    python3 -m venv ~/.cache/advocacy/bench-venv
    ~/.cache/advocacy/bench-venv/bin/pip install lifetimes==0.11.3
    ~/.cache/advocacy/bench-venv/bin/python bench/clv_lifetimes.py

Prints one JSON line: customers, wall seconds per step and in total, and
the fitted parameters (to compare with the Rust fit of the same process).
"""

import argparse
import json
import os
import sys
import time

try:
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
except ImportError as e:  # pragma: no cover - environment message
    sys.exit(
        f"{e}: run this with the benchmark virtualenv, see the docstring:\n"
        "  python3 -m venv ~/.cache/advocacy/bench-venv && "
        "~/.cache/advocacy/bench-venv/bin/pip install lifetimes==0.11.3"
    )

# Same truth as tests/functions/clv.rs.
BG = dict(r=0.5, alpha=6.0, a=0.7, b=2.8)
GG = dict(p=5.0, q=4.0, v=20.0)


def simulate(n, seed):
    """RFM summary (weeks) and mean repeat spend for n customers."""
    rng = np.random.default_rng(seed)
    age_days = 7 + rng.integers(0, 539, n)
    age = age_days / 7.0
    lam = rng.gamma(BG["r"], 1.0 / BG["alpha"], n)
    drop = rng.beta(BG["a"], BG["b"], n)
    t = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    last_day = np.zeros(n, dtype=np.int64)
    active = np.ones(n, dtype=bool)
    # All customers advance one purchase at a time, so the loop runs as
    # many rounds as the busiest customer has purchases, not n times.
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1.0 / lam[idx])
        over = t[idx] > age[idx]
        active[idx[over]] = False
        idx = idx[~over]
        day = np.floor(t[idx] * 7.0).astype(np.int64)
        new = day != last_day[idx]
        x[idx[new]] += 1
        last_day[idx[new]] = day[new]
        dead = rng.random(idx.size) < drop[idx]
        active[idx[dead]] = False
    recency = np.where(x > 0, last_day / 7.0, 0.0)
    nu = rng.gamma(GG["q"], 1.0 / GG["v"], n)
    repeat = x > 0
    total = np.zeros(n)
    total[repeat] = rng.gamma(GG["p"] * x[repeat], 1.0 / nu[repeat])
    monetary = np.zeros(n)
    monetary[repeat] = np.round(total[repeat] / x[repeat], 2)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "frequency": x,
            "recency": recency,
            "T": age,
            "monetary_value": monetary,
        }
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument(
        "--csv",
        default=os.path.expanduser("~/.cache/advocacy/bench/clv_rfm_1m.csv"),
        help="where the generated summary is written (reused if it exists)",
    )
    ap.add_argument("--horizon-weeks", type=float, default=52.0)
    ap.add_argument("--annual-discount-rate", type=float, default=0.10)
    args = ap.parse_args()

    started = time.perf_counter()
    if os.path.exists(args.csv):
        data = pd.read_csv(args.csv)
        generated = False
    else:
        data = simulate(args.customers, args.seed)
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        data.to_csv(args.csv, index=False, float_format="%.6g")
        data = pd.read_csv(args.csv)  # time what a reader of the file gets
        generated = True
    prepare_s = time.perf_counter() - started

    f, r, T, m = data["frequency"], data["recency"], data["T"], data["monetary_value"]
    timings = {}

    t0 = time.perf_counter()
    bgf = BetaGeoFitter()
    bgf.fit(f, r, T)
    timings["bg_nbd_fit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    repeat = (f > 0) & (m > 0)
    ggf = GammaGammaFitter()
    ggf.fit(f[repeat], m[repeat])
    timings["gamma_gamma_fit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(args.horizon_weeks, f, r, T)
    timings["expected_purchases_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    months = int(round(args.horizon_weeks / 4.345))
    monthly_rate = (1.0 + args.annual_discount_rate) ** (1.0 / 12.0) - 1.0
    clv = ggf.customer_lifetime_value(
        bgf, f, r, T, m, time=months, discount_rate=monthly_rate, freq="W"
    )
    timings["clv_s"] = time.perf_counter() - t0

    total = sum(timings.values())
    print(
        json.dumps(
            {
                "customers": int(len(data)),
                "csv": args.csv,
                "generated": generated,
                "prepare_s": round(prepare_s, 3),
                **{k: round(v, 3) for k, v in timings.items()},
                "fit_and_score_s": round(total, 3),
                "bg_nbd": {k: float(v) for k, v in bgf.params_.items()},
                "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
                "sum_expected_purchases": float(np.sum(expected)),
                "sum_clv": float(np.sum(clv)),
            }
        )
    )


if __name__ == "__main__":
    main()
