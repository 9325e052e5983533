"""Writes the record-shape benchmark's landing files (issue 29),
deterministically: a Salesforce list view of N contacts (eight name/value
pairs each), a Typeform export of N responses (three answers each, in a
random order) and an ECB-shaped historical rates file (6,800 days x 41
currencies, 30% N/A).

    python3 bench/gen_record_shapes.py <landing folder> [N]
"""
import datetime
import json
import os
import random
import sys

CURRENCIES = ("USD JPY BGN CYP CZK DKK EEK GBP HUF LTL LVL MTL PLN ROL RON SEK SIT SKK CHF "
              "ISK NOK TRL TRY AUD BRL CAD CNY HKD IDR ILS INR KRW MXN MYR NZD PHP SGD THB "
              "ZAR HRK RUB").split()


def salesforce(path, n, rng):
    records = []
    for i in range(n):
        pairs = {
            "Name": "Person %d" % i,
            "Email": "p%d@example.com" % i,
            "Id": "0035g%09d" % i,
            "CreatedDate": "2025-%02d-%02dT09:00:00.000+0000" % (rng.randint(1, 12), rng.randint(1, 28)),
            "MailingCountry": rng.choice(["NO", "SE", "DK"]),
            "Phone": "555-%04d" % (i % 10000),
            "Title": "Buyer",
            "AccountId": "001x%d" % i,
        }
        columns = [{"fieldNameOrPath": k, "value": v} for k, v in pairs.items()]
        records.append({"columns": columns})
    page = {"developerName": "All", "done": True, "id": "00B1", "label": "All",
            "records": records, "size": n}
    with open(path, "w") as f:
        json.dump(page, f)


def typeform(path, n, rng):
    start = datetime.datetime(2025, 1, 1)
    items = []
    for i in range(n):
        answers = [
            {"field": {"id": "Fq3", "type": "multiple_choice", "ref": "found"},
             "type": "choice", "choice": {"label": "A friend"}},
            {"field": {"id": "Fq2", "type": "long_text", "ref": "why"},
             "type": "text", "text": "Comment %d" % i},
            {"field": {"id": "Fq1", "type": "opinion_scale", "ref": "nps"},
             "type": "number", "number": rng.randint(0, 10)},
        ]
        rng.shuffle(answers)
        at = start + datetime.timedelta(minutes=5 * i)
        items.append({"landing_id": "r%d" % i, "token": "r%d" % i, "response_id": "r%d" % i,
                      "submitted_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "hidden": {"email": "u%d@example.com" % i}, "answers": answers})
    with open(path, "w") as f:
        json.dump({"total_items": n, "page_count": 1, "items": items}, f)


def ecb(path, rng):
    last = datetime.date(2026, 10, 30)
    with open(path, "w") as f:
        f.write("Date," + ",".join(CURRENCIES) + ",\n")
        for i in range(6800):
            day = last - datetime.timedelta(days=i)
            cells = ["N/A" if rng.random() < 0.3 else "%.4f" % (rng.random() * 100 + 0.5)
                     for _ in CURRENCIES]
            f.write(day.isoformat() + "," + ",".join(cells) + ",\n")


def main():
    landing = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    rng = random.Random(29)
    for folder in ("sf", "typeform", "ecb"):
        os.makedirs(os.path.join(landing, folder), exist_ok=True)
    salesforce(os.path.join(landing, "sf", "contacts.json"), n, rng)
    typeform(os.path.join(landing, "typeform", "responses.json"), n, rng)
    ecb(os.path.join(landing, "ecb", "eurofxref-hist.csv"), rng)


main()
