"""The DuckDB peer of `advocacy run`, for bench/job.sh.

Three phases, timed separately, printed as one JSON object:

ingest  every export under the landing folder converted to zstd Parquet
        (read_csv / read_json with DuckDB's detection, then COPY), the
        nearest DuckDB equivalent of loading the raw zone.
models  every model of queries/ run in dependency order over advocacy's
        own raw zone (the same Parquet files advocacy's models read), each
        materialised to Parquet and read back by the models that use it,
        as advocacy does. The model files run unchanged: DuckDB accepts
        their SQL as written; named parameters ($run_date, the vars of
        queries/models.yml, and $timezone and $currency as the bundled
        config sets them: UTC and USD) are substituted as literals, and
        local_time(ts, zone) is a macro over DuckDB's timezone(zone, ts).
tests   the data tests of queries/models.yml, each the query advocacy ran
        for it (read from advocacy's run record of the same run).

clv_model, customer_clv and the back-test (int_clv_holdout_model,
clv_validation, clv_tracking) call advocacy's BG/NBD and Gamma-Gamma
functions, and stg_social_activity its text_sentiment (VADER), which DuckDB
does not have: they are read from advocacy's materialised results instead
of being computed (bench/clv.sh compares the CLV fitting with lifetimes;
bench/sentiment.sh measures the sentiment scores). DuckDB's models time leaves them out; advocacy's includes
them (bench/job.sh prints how much of it they take).

usage: job.py LANDING WAREHOUSE QUERIES OUT THREADS RUN_DATE
"""

import glob
import json
import os
import re
import sys
import time

import duckdb

ENTITIES = [
    "customers",
    "orders",
    "nps_responses",
    "referrals",
    "reviews",
    "social_activity",
    "identities",
    "exchange_rates",
]
# The models that call advocacy's CLV functions (BG/NBD, Gamma-Gamma) or
# its text_sentiment (VADER), which DuckDB lacks: DuckDB reads advocacy's
# results for them.
NOT_IN_DUCKDB = {
    "stg_social_activity",
    "clv_model",
    "customer_clv",
    "int_clv_holdout_model",
    "clv_validation",
    "clv_tracking",
}


def ingest(con, landing, out):
    os.makedirs(out, exist_ok=True)
    rows = 0
    for path in sorted(glob.glob(f"{landing}/**/*.*", recursive=True)):
        name = os.path.relpath(path, landing).replace("/", "_")
        target = f"{out}/{name}.parquet"
        if path.endswith(".csv"):
            source = f"read_csv('{path}', store_rejects = true)"
        elif path.endswith(".jsonl"):
            source = f"read_json('{path}', format = 'newline_delimited', ignore_errors = true)"
        elif path.endswith(".json"):
            # An API page: {"reviews": [...], ...}; one row per record.
            source = f"(SELECT unnest(reviews, recursive := true) FROM read_json('{path}', maximum_object_size = 268435456))"
        else:
            continue
        con.execute(
            f"COPY (SELECT * FROM {source}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
        )
        rows += con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0]
    return rows


def parameters(queries, run_date):
    """The vars block of models.yml as SQL literals, plus $run_date."""
    text = open(f"{queries}/models.yml").read().split("\nmodels:")[0]
    values = {}
    for m in re.finditer(r"^  (\w+): ([^#\n]+)", text, re.M):
        value = m.group(2).strip()
        if re.fullmatch(r"-?[\d.]+", value) or value in ("true", "false"):
            values[m.group(1)] = value
        else:
            values[m.group(1)] = "'" + value.replace("'", "''") + "'"
    values["run_date"] = f"DATE '{run_date}'"
    # The bundled config's run settings (bench/job.sh runs that config).
    values["timezone"] = "'UTC'"
    values["currency"] = "'USD'"
    return values


def merged_models(queries):
    """The models merged by key in models.yml (`merge: by_key`), each with
    its `by` column: advocacy keeps their rows of every day and reads them
    up to the run date, which the peer does with a WHERE."""
    merged, name = {}, None
    for line in open(f"{queries}/models.yml"):
        m = re.match(r"  - name: (\w+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"\s+incremental: \{ by: (\w+),.*merge: by_key", line)
        if m and name:
            merged[name] = m.group(1)
    return merged


def materialised(warehouse, name, run_date, merged):
    """advocacy's materialised result of a model, as SQL: its object, or
    an incremental model's objects in force (state.json)."""
    state = f"{warehouse}/_state/models/{name}/state.json"
    if not os.path.exists(state):
        return f"SELECT * FROM '{warehouse}/_state/models/{name}.parquet'"
    kept = json.load(open(state))
    objects = ", ".join(f"'{warehouse}/{o}'" for o in kept["months"].values())
    sql = f"SELECT * FROM read_parquet([{objects}])"
    if name in merged:
        sql += f" WHERE {merged[name]} <= DATE '{run_date}'"
    return sql


def build_order(queries):
    files = {os.path.basename(f)[:-4]: f for f in glob.glob(f"{queries}/**/*.sql", recursive=True)}
    sql = {name: open(path).read() for name, path in files.items()}
    # Dependencies from the SQL without its comments (a comment may name
    # a model that reads this one).
    code = {name: re.sub(r"--[^\n]*", "", text) for name, text in sql.items()}
    deps = {
        name: [other for other in files if other != name and re.search(rf"\b{other}\b", text)]
        for name, text in code.items()
    }
    order, seen = [], set()

    def visit(name):
        if name not in seen:
            seen.add(name)
            for dep in deps[name]:
                visit(dep)
            order.append(name)

    for name in sorted(files):
        visit(name)
    return order, sql


def models(con, warehouse, queries, out, run_date):
    os.makedirs(out, exist_ok=True)
    for entity in ENTITIES:
        con.execute(
            f"CREATE VIEW raw_{entity} AS SELECT * FROM "
            f"read_parquet('{warehouse}/raw/{entity}/**/*.parquet', union_by_name = true)"
        )
    params = parameters(queries, run_date)
    order, sql = build_order(queries)
    merged = merged_models(queries)
    seconds, rows = {}, 0
    for name in order:
        if name in NOT_IN_DUCKDB:
            con.execute(f"CREATE VIEW {name} AS {materialised(warehouse, name, run_date, merged)}")
            continue
        text = re.sub(r"\$(\w+)", lambda m: params[m.group(1)], sql[name])
        if name in merged:
            text = f"SELECT * FROM ({text}) WHERE {merged[name]} <= DATE '{run_date}'"
        # The one spelling the two dialects do not share: DataFusion's
        # ordered aggregates first_value / last_value(x ORDER BY y) are
        # DuckDB's first / last(x ORDER BY y) (DuckDB reads first_value and
        # last_value as windows). The models use them only as aggregates.
        text = re.sub(r"\b(first|last)_value\(", r"\1(", text)
        target = f"{out}/{name}.parquet"
        started = time.perf_counter()
        con.execute(f"COPY ({text}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM '{target}'")
        seconds[name] = time.perf_counter() - started
        rows += con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    return seconds, rows


def data_tests(con, record, run_date, queries):
    """The same data tests as advocacy's run: each test's query from its
    run record (`tests[].sql`), run the way advocacy runs it (a count of the
    failing rows; row_count tests count the table)."""
    params = parameters(queries, run_date)
    tests = json.load(open(record))["tests"]
    failed = 0
    for test in tests:
        sql = re.sub(r"\$(\w+)", lambda m: params[m.group(1)], test["sql"])
        if test["test"] == "row_count":
            con.execute(sql).fetchall()
        elif con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0] > 0:
            failed += 1
    return len(tests), failed


def main():
    landing, warehouse, queries, out, threads, run_date = sys.argv[1:7]
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET memory_limit = '2GB'")
    con.execute("SET TimeZone = 'UTC'")
    # advocacy's local_time(ts, zone): the wall-clock time of an instant.
    con.execute("CREATE MACRO local_time(ts, zone) AS timezone(zone, ts)")
    started = time.perf_counter()
    ingest_rows = ingest(con, landing, f"{out}/ingest")
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    per_model, model_rows = models(con, warehouse, queries, f"{out}/models", run_date)
    model_seconds = time.perf_counter() - started
    started = time.perf_counter()
    tests, failed = data_tests(con, f"{warehouse}/_runs/latest.json", run_date, queries)
    test_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "ingest": {"seconds": ingest_seconds, "rows": ingest_rows},
                "models": {"seconds": model_seconds, "rows": model_rows},
                "tests": {"seconds": test_seconds, "count": tests, "failed": failed},
                "per_model": per_model,
            }
        )
    )


if __name__ == "__main__":
    main()
