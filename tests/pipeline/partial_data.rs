//! A company with only a CRM (customers and orders; no surveys, reviews,
//! referrals or social) still gets a successful run: every report is
//! built, those without inputs empty with their full schema.

use crate::common::{Project, assert_exit, lines, query_batches};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn a_crm_only_company_gets_every_report() {
    let p = Project::new();
    p.repo_config(
        r#"sources:
  - name: crm
    entity: customers
    format: csv
    path: customers.csv
    columns: { customer_id: id, signup_date: signup }
  - name: shop
    entity: orders
    format: csv
    path: orders.csv
    columns: { order_id: id, customer_id: cid, ordered_at: at, amount: amount }
"#,
    );
    p.land("customers.csv", "id,signup\nC1,2025-01-01\nC2,2025-02-01\n");
    p.land(
        "orders.csv",
        "id,cid,at,amount\no1,C1,2025-03-01,10\no2,C1,2025-04-01,20\no3,C2,2025-05-01,30\n",
    );
    let out = p.advocacy(&["run", "--config", "config.yaml", "--date", "2026-01-01"]);
    assert_exit(&out, 0);

    let reports: Vec<String> = std::fs::read_dir(format!("{REPO}/queries/reports"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(reports.len() >= 7, "{reports:?}");
    for report in &reports {
        let file = p
            .warehouse()
            .join(format!("reports/{report}/{report}.parquet"));
        assert!(file.exists(), "{report} was not published");
        // Readable, with its full schema, even when empty.
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap()).unwrap();
        assert!(
            reader.schema().fields().len() >= 3,
            "{report}: {:?}",
            reader.schema()
        );
        query_batches(&file, "SELECT count(*) FROM t");
    }
    let empty = p.query("reports/nps_trends", "SELECT count(*) AS n FROM t");
    assert_eq!(lines(&empty)[1..], ["0"]);
    let columns = p.query(
        "reports/nps_trends",
        "SELECT count(*) AS n FROM (SELECT nps, nps_margin_of_error, change_significant FROM t)",
    );
    assert_eq!(lines(&columns)[1..], ["0"]);
    let clv = p.query(
        "reports/customer_clv",
        "SELECT customer_id, orders FROM t ORDER BY customer_id",
    );
    assert_eq!(lines(&clv)[1..], ["C1 | 2", "C2 | 1"]);
}
