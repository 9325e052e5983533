#!/usr/bin/env python3
"""Splits the last day off generated exports, for bench/job.sh's nightly
mode: every record of DAY in the day-keyed exports moves from the export
into a file of its own beside it (crm/orders.csv -> crm/orders-DAY.csv),
which the bundled config's globs also match. Landing the exports without
those files, running, and then landing them is one night with one new day
of exports. Records are moved as the lines they are: the export keeps its
other lines byte for byte, and the day's file starts with the export's
header. Reviews, identities and the review sites' files stay whole.

    python3 bench/split_day.py LANDING DAY OUT_FOLDER

writes the exports without DAY's records under LANDING (in place) and
DAY's files under OUT_FOLDER (same relative paths), then prints the
records moved per file.
"""

import csv
import datetime
import json
import os
import sys

# Export, how its lines start (header lines kept), and how to find a
# record's day: (field position, delimiter) for CSV or a JSON key.
EXPORTS = [
    ("crm/orders.csv", 1, ("csv", 2, ",", "iso")),
    ("crm/nps_responses.csv", 1, ("csv", 5, ";", "epoch")),
    ("crm/referrals.csv", 1, ("csv", 2, ",", "iso")),
    ("crm/customers.csv", 1, ("csv", 4, ",", "us")),
    ("social/x-mentions.jsonl", 0, ("json", "created_at")),
    ("social/community-answers.jsonl", 0, ("json", "created_at")),
    ("finance/ecb-exchange-rates.csv", 1, ("csv", None, ",", "iso")),
]


def day_of(line, how, header):
    """The record's day as YYYY-MM-DD, or None when it has none."""
    try:
        if how[0] == "json":
            return str(json.loads(line).get(how[1]))[:10]
        _, position, delimiter, form = how
        fields = next(csv.reader([line], delimiter=delimiter))
        if position is None:
            position = next(csv.reader([header], delimiter=delimiter)).index("TIME_PERIOD")
        value = fields[position]
        if form == "iso":
            return value[:10]
        if form == "epoch":
            moment = datetime.datetime.fromtimestamp(int(value), datetime.timezone.utc)
            return moment.strftime("%Y-%m-%d")
        month, day, year = value.split("/")
        return f"{year}-{int(month):02d}-{int(day):02d}"
    except (ValueError, IndexError, AttributeError, csv.Error, StopIteration):
        return None


def split(landing, day, out):
    for relative, header_lines, how in EXPORTS:
        path = os.path.join(landing, relative)
        if not os.path.exists(path):
            continue
        with open(path, newline="", encoding="utf-8") as f:
            lines = f.readlines()
        header = lines[:header_lines]
        kept, moved = list(header), list(header)
        for line in lines[header_lines:]:
            if day_of(line, how, header[0] if header else "") == day:
                moved.append(line)
            else:
                kept.append(line)
        stem, ext = os.path.splitext(relative)
        target = os.path.join(out, f"{stem}-{day}{ext}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", newline="", encoding="utf-8") as f:
            f.writelines(moved)
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.writelines(kept)
        print(f"{relative}: {len(moved) - header_lines} of {len(lines) - header_lines} records moved")


if __name__ == "__main__":
    split(*sys.argv[1:4])
