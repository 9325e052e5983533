"""A UCI "Online Retail"-shaped line-item export for bench/line_items.sh:
one row per line, 1 to 8 lines per invoice, 2% of invoices cancellations
(numbered C...). Deterministic (seeded).
    python3 bench/gen_line_items.py OUT.csv LINES
"""
import random
import sys

out_path, lines_wanted = sys.argv[1], int(sys.argv[2])
random.seed(7)
invoice = 500000
written = 0
with open(out_path, "w") as out:
    out.write("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
    while written < lines_wanted:
        invoice += 1
        cancelled = random.random() < 0.02
        sign, prefix = (-1, "C") if cancelled else (1, "")
        customer = random.randint(10000, 60000)
        day = f"{random.randint(1, 12)}/{random.randint(1, 28)}/{random.randint(10, 24)}"
        at = f"{day} {random.randint(0, 23)}:{random.randint(0, 59):02d}"
        for _ in range(random.randint(1, 8)):
            quantity = sign * random.randint(1, 24)
            price = random.randint(10, 2000) / 100
            out.write(
                f"{prefix}{invoice},A{random.randint(100, 999)},SOME PRODUCT NAME,"
                f"{quantity},{at},{price:.2f},{customer},United Kingdom\n"
            )
            written += 1
