#!/usr/bin/env python3
"""Compares the report tables of two warehouses row for row (DuckDB
EXCEPT ALL both ways): prints each report's rows and the rows found in
one but not the other, then the total. Run with the bench virtualenv's
Python (it has duckdb):

    ~/.cache/advocacy/bench-venv/bin/python bench/compare_reports.py WAREHOUSE_A WAREHOUSE_B
"""
import duckdb,sys,os,glob
a,b=sys.argv[1],sys.argv[2]
con=duckdb.connect()
bad=0
for d in sorted(os.listdir(f'{a}/reports')):
    fa=glob.glob(f'{a}/reports/{d}/*.parquet'); fb=glob.glob(f'{b}/reports/{d}/*.parquet')
    if not fa: continue
    ra=con.execute(f"select count(*) from read_parquet('{fa[0]}')").fetchone()[0]
    x=con.execute(f"select count(*) from (select * from read_parquet('{fa[0]}') except all select * from read_parquet('{fb[0]}'))").fetchone()[0]
    y=con.execute(f"select count(*) from (select * from read_parquet('{fb[0]}') except all select * from read_parquet('{fa[0]}'))").fetchone()[0]
    print(d, ra, 'rows; differences', x, y); bad+=x+y
print('total differences', bad)
