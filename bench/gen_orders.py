#!/usr/bin/env python3
"""Write a large Shopify-style orders export for ingest benchmarks.

The file has the header and value shapes of testdata/crm/orders.csv (so the
bundled config reads it unchanged): ISO 8601 timestamps in the store's local
time with offset, 2-decimal totals, `paid|refunded|voided`. Orders are in time
order across the period, as real exports are. A few deliberately bad rows per
million (each wrong for exactly one reason) exercise the quarantine at scale.

Deterministic: the same arguments give a byte-identical file. Stdlib only.

    python3 bench/gen_orders.py OUT.csv --bytes 1100000000

Prints one JSON line with rows, bad_rows, bytes and seconds, which a benchmark
can hold the ingest's row accounting against.

Speed comes from precomputed tables (day strings, time-of-day strings, UTC
offsets per day, a pool of totals) so each row is a few table lookups and one
string join; chunks of ~8 MB go to the file in one write.
"""

import argparse
import datetime as dt
import json
import math
import random
import sys
import time

HEADER = "Order ID,Customer ID,Created At,Total,Currency,Gross Margin,Financial Status\n"

# (currency, zone, weight): stores by region, as in the generator.
REGIONS = [
    ("USD", "us_eastern", 24), ("USD", "us_central", 8), ("USD", "us_pacific", 8),
    ("GBP", "london", 18), ("EUR", "berlin", 28), ("EUR", "london", 3),
    ("CAD", "us_eastern", 6), ("AUD", "sydney", 5),
]
STANDARD_HOURS = {"us_eastern": -5, "us_central": -6, "us_pacific": -8, "london": 0, "berlin": 1, "sydney": 10}
SALESFORCE_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SALESFORCE_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
CHUNK_ROWS = 100_000
AMOUNT_POOL_BITS = 16


def nth_sunday(year, month, n):
    d = dt.date(year, month, 1)
    d += dt.timedelta(days=(6 - d.weekday()) % 7)
    return d + dt.timedelta(weeks=n - 1)


def last_sunday(year, month):
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    d = nxt - dt.timedelta(days=1)
    return d - dt.timedelta(days=(d.weekday() + 1) % 7)


def summer(zone, d):
    y = d.year
    if zone.startswith("us_"):
        return nth_sunday(y, 3, 2) <= d < nth_sunday(y, 11, 1)
    if zone in ("london", "berlin"):
        return last_sunday(y, 3) <= d < last_sunday(y, 10)
    return d < nth_sunday(y, 4, 1) or d >= nth_sunday(y, 10, 1)


def offset_text(seconds):
    sign = "+" if seconds >= 0 else "-"
    s = abs(seconds)
    return f"{sign}{s // 3600:02d}:{s % 3600 // 60:02d}"


def salesforce_id(n):
    body = []
    for _ in range(7):
        body.append(SALESFORCE_B62[n % 62])
        n //= 62
    sid = "0035g000" + "".join(reversed(body))
    for chunk in range(3):
        bits = sum(1 << k for k in range(5) if sid[chunk * 5 + k].isupper())
        sid += SALESFORCE_SUFFIX[bits]
    return sid


class Tables:
    """Everything a row needs, precomputed once."""

    def __init__(self, rng, start, end, customers):
        self.start_s = int(dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc).timestamp())
        days = (end - start).days + 1
        self.span_s = days * 86400
        # Local dates can fall one day either side of the UTC period.
        self.day_text = [(start + dt.timedelta(days=k - 1)).isoformat() for k in range(days + 2)]
        self.clock = [f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in range(86400)]
        zones = sorted(STANDARD_HOURS)
        self.offsets = {}
        for z in zones:
            per_day = []
            for k in range(days):
                d = start + dt.timedelta(days=k)
                secs = (STANDARD_HOURS[z] + (1 if summer(z, d) else 0)) * 3600
                per_day.append((secs, offset_text(secs)))
            self.offsets[z] = per_day
        weights = [w for _, _, w in REGIONS]
        self.customers = []
        for i in range(customers):
            currency, zone, _ = rng.choices(REGIONS, weights)[0]
            cid = salesforce_id(1_500_000_000 + i * 29 + rng.randrange(29))
            self.customers.append((cid, currency, zone))
        self.amounts = []
        for _ in range(1 << AMOUNT_POOL_BITS):
            total = min(max(math.exp(math.log(78.0) + 0.55 * rng.gauss(0, 1)), 12.0), 650.0)
            cents = round(total * 100)
            margin = round(cents * (0.30 + 0.28 * rng.random()))
            self.amounts.append(f"{cents // 100}.{cents % 100:02d},CUR,{margin // 100}.{margin % 100:02d}")


def local_time(t, utc_s, zone):
    """`YYYY-MM-DDTHH:MM:SS+hh:mm` in the store's zone for UTC seconds."""
    rel = utc_s - t.start_s
    day = min(max(rel // 86400, 0), len(t.offsets[zone]) - 1)
    secs, text = t.offsets[zone][day]
    local = rel + secs
    return f"{t.day_text[local // 86400 + 1]}T{t.clock[local % 86400]}{text}"


def good_row(t, rng, seq, utc_s):
    cid, currency, zone = t.customers[rng.getrandbits(32) % len(t.customers)]
    amount = t.amounts[rng.getrandbits(AMOUNT_POOL_BITS)].replace("CUR", currency)
    u = rng.getrandbits(10)
    status = "paid" if u < 963 else ("refunded" if u < 1004 else "voided")
    return f"{5_630_112_000_000 + seq * 131},{cid},{local_time(t, utc_s, zone)},{amount},{status}\n"


def bad_row(t, kind, seq, utc_s):
    """Each wrong for exactly one reason, as in testdata."""
    cid, currency, zone = t.customers[seq % len(t.customers)]
    oid = 5_630_112_000_000 + seq * 131
    at = local_time(t, utc_s, zone)
    return [
        f"{oid},{cid},{at},-42.50,{currency},12.10,paid\n",
        f"{oid},{cid},{at},58.00,{currency},21.40,pending\n",
        f"{oid},{cid},yesterday,35.90,{currency},14.00,paid\n",
        f",{cid},{at},77.25,{currency},30.00,paid\n",
        f"{oid},{cid},{at},1,234.50,{currency},512.00,paid\n",
    ][kind % 5]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="CSV file to write")
    p.add_argument("--bytes", type=int, default=1_100_000_000, help="approximate file size (default 1.1 GB)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--customers", type=int, default=0, help="distinct customers (default: rows / 5)")
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 6, 1))
    p.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    p.add_argument("--bad-per-million", type=int, default=3, help="deliberately bad rows per million (default 3)")
    a = p.parse_args(argv)
    if a.end < a.start or a.bytes <= 0:
        p.error("need --end >= --start and --bytes > 0")

    began = time.monotonic()
    rng = random.Random(a.seed)
    approx_row = 92
    customers = a.customers or max(1000, a.bytes // approx_row // 5)
    t = Tables(rng, a.start, a.end, customers)
    bad_every = 1_000_000 // a.bad_per_million if a.bad_per_million > 0 else 0

    rows = bad = 0
    last_s = t.start_s
    written = len(HEADER)
    with open(a.out, "w", encoding="utf-8", newline="\n", buffering=1 << 22) as f:
        f.write(HEADER)
        while written < a.bytes:
            # Time follows progress through the file, so rows come out in
            # order and the last one lands on --end whatever the size.
            left = a.bytes - written
            n = max(1, min(CHUNK_ROWS, left // approx_row + 1))
            t0 = max(last_s, t.start_s + t.span_s * written // a.bytes)
            t1 = t.start_s + t.span_s * min(written + n * approx_row, a.bytes) // a.bytes
            step = max(0, t1 - t0) / n
            out = []
            for j in range(n):
                utc_s = t0 + int(j * step)
                if bad_every and (rows + 1) % bad_every == bad_every // 2:
                    out.append(bad_row(t, bad, rows, utc_s))
                    bad += 1
                else:
                    out.append(good_row(t, rng, rows, utc_s))
                rows += 1
            last_s = t0 + int((n - 1) * step)
            chunk = "".join(out)
            f.write(chunk)
            size = len(chunk.encode("utf-8")) if not chunk.isascii() else len(chunk)
            written += size
            approx_row = max(40, size // n)
    summary = {"path": a.out, "rows": rows, "bad_rows": bad, "bytes": written, "seconds": round(time.monotonic() - began, 1)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
