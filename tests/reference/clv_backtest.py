"""The CLV back-test (clv_validation, clv_tracking) computed independently
of advocacy, with numpy and scipy, from a transactions file: the reference
tests/queries/clv.rs holds the two report tables to.

    python clv_backtest.py TRANSACTIONS RUN_DATE HOLDOUT_WEEKS OUT_PREFIX

TRANSACTIONS is CDNOW_master.txt's layout: whitespace-separated customer id,
date (YYYYMMDD), number of CDs and dollar value, after a header line.
Writes OUT_PREFIX-validation.csv and OUT_PREFIX-tracking.csv with the
columns of the report tables, and OUT_PREFIX-params.csv with the fit.

Definitions (the same as the SQL's, written from the paper, not from it):
a purchase is a distinct (customer, day); the calibration period ends
HOLDOUT_WEEKS * 7 days before RUN_DATE; frequency is the number of repeat
purchase days in calibration, recency and age are weeks from the first
purchase to the last one and to the end of calibration. BG/NBD (Fader,
Hardie & Lee 2005) is fitted by maximum likelihood (eq. 6); predictions are
eq. 10 (conditional) and eq. 7 (a new customer's purchases in t weeks).
"""

import csv
import sys
from datetime import date

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1


def day_number(yyyymmdd):
    d = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    return (d - date(1970, 1, 1)).days


def read_days(path, run_day):
    days = {}
    with open(path) as f:
        next(f)
        for line in f:
            fields = line.split()
            if not fields:
                continue
            day = day_number(fields[1])
            if day <= run_day:
                days.setdefault(fields[0], set()).add(day)
    return {c: sorted(d) for c, d in days.items()}


def negative_log_likelihood(log_params, x, t_x, big_t):
    r, alpha, a, b = np.exp(log_params)
    common = (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + gammaln(a + b)
              + gammaln(b + x) - gammaln(b) - gammaln(a + b + x))
    alive = -(r + x) * np.log(alpha + big_t)
    dead = np.where(x > 0,
                    np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                    -np.inf)
    return -np.sum(common + np.logaddexp(alive, dead))


def fit(x, t_x, big_t):
    best = minimize(negative_log_likelihood, np.zeros(4), args=(x, t_x, big_t),
                    method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000})
    best = minimize(negative_log_likelihood, best.x, args=(x, t_x, big_t), method="BFGS",
                    options={"gtol": 1e-9})
    return np.exp(best.x), -best.fun


def conditional_expected(params, t, x, t_x, big_t):
    r, alpha, a, b = params
    z = t / (alpha + big_t + t)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    odds_dead = np.where(x > 0, a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0.0)
    return head * body / (1 + odds_dead)


def new_customer_expected(params, t):
    r, alpha, a, b = params
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def main():
    path, run_date, weeks, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    run_day = day_number(run_date.replace("-", ""))
    cal_end = run_day - 7 * weeks
    days = read_days(path, run_day)

    rows = []
    for customer, ds in days.items():
        cal = [d for d in ds if d <= cal_end]
        if cal:
            rows.append((len(cal) - 1, (cal[-1] - cal[0]) / 7, (cal_end - cal[0]) / 7,
                         sum(1 for d in ds if d > cal_end)))
    x, t_x, big_t, holdout = (np.array(c, dtype=float) for c in zip(*rows))
    params, log_likelihood = fit(x, t_x, big_t)
    predicted = conditional_expected(params, float(weeks), x, t_x, big_t)

    with open(f"{out}-params.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["r", "alpha", "a", "b", "log_likelihood", "customers"])
        w.writerow([repr(float(v)) for v in params] + [repr(float(log_likelihood)), len(rows)])

    with open(f"{out}-validation.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frequency", "customers", "actual_holdout_purchases", "predicted_holdout_purchases"])
        group = np.minimum(x, 7)
        for g in range(8):
            mask = group == g
            if mask.any():
                w.writerow([g, int(mask.sum()), repr(float(holdout[mask].mean())),
                            repr(float(predicted[mask].mean()))])

    firsts = np.array([ds[0] for ds in days.values()])
    repeats = np.array([d for ds in days.values() for d in ds[1:]])
    start = firsts.min()
    cohort_days, cohort_sizes = np.unique(firsts, return_counts=True)
    with open(f"{out}-tracking.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["week", "week_end", "holdout", "actual_cumulative_purchases",
                    "predicted_cumulative_purchases"])
        for week in range(1, (run_day - start) // 7 + 1):
            end = start + 7 * week
            born = cohort_days < end
            expected = new_customer_expected(params, (end - cohort_days[born]) / 7)
            w.writerow([week, date.fromordinal(date(1970, 1, 1).toordinal() + int(end)).isoformat(),
                        str(end > cal_end).lower(), int((repeats <= end).sum()),
                        repr(float((cohort_sizes[born] * expected).sum()))])


if __name__ == "__main__":
    main()
