"""The peer for the ingest benchmark: DuckDB converting the same CSV to
zstd Parquet with read_csv + COPY, on the same number of threads. Bad rows
go to DuckDB's rejects table (store_rejects), its nearest equivalent of
our quarantine, so both tools do the same job: load the good rows, keep
the bad ones aside."""
import sys

import duckdb

source, target, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(
    f"COPY (SELECT * FROM read_csv('{source}', header = true, store_rejects = true)) "
    f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
)
rows = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
rejected = con.execute("SELECT count(*) FROM reject_errors").fetchone()[0]
print(f"duckdb wrote {rows} rows, rejected {rejected}", file=sys.stderr)
