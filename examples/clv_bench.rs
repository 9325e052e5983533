//! The CLV benchmark's advocacy side: fit BG/NBD and Gamma-Gamma and score
//! every customer of an RFM summary CSV (customer_id, frequency, recency,
//! T, monetary_value; weeks) through SQL, exactly as the clv_model and
//! customer_clv models do. bench/clv.sh times it against lifetimes.
//!
//!     cargo run --release --example clv_bench -- SUMMARY.csv [HORIZON_WEEKS] [ANNUAL_RATE]

use std::time::Instant;

use datafusion::arrow::util::pretty::pretty_format_batches;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: clv_bench SUMMARY.csv [HORIZON_WEEKS] [ANNUAL_RATE]");
    let horizon: f64 = args
        .next()
        .map_or(52.0, |a| a.parse().expect("horizon in weeks"));
    let rate: f64 = args
        .next()
        .map_or(0.10, |a| a.parse().expect("annual rate"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let config = advocacy::config::Config::parse(
            "landing: .\nwarehouse: .\nrun: { pii_salt: bench, pii_salt_public: true, memory_limit: 4GiB }\n",
            ".".into(),
        )
        .expect("config");
        let ctx = advocacy::engine::local_session(&config).expect("session");
        let started = Instant::now();
        ctx.register_csv("rfm", &path, Default::default()).await.expect("csv");
        // Fit once, as clv_model does; then score every customer, as
        // customer_clv does (the one-row model on the cross join's left,
        // as there). Each phase is timed.
        let fit = ctx
            .sql(
                "SELECT bg_nbd_fit(frequency, recency, \"T\") AS bg,
                        gamma_gamma_fit(frequency, monetary_value) AS gg
                 FROM rfm",
            )
            .await
            .expect("plan fit");
        let schema = std::sync::Arc::new(fit.schema().as_arrow().clone());
        let model = fit.collect().await.expect("fit");
        let fitted = started.elapsed().as_secs_f64();
        let table = datafusion::datasource::MemTable::try_new(schema, vec![model]).expect("model");
        ctx.register_table("m", std::sync::Arc::new(table)).expect("register");
        let sql = format!(
            "SELECT count(*) AS customers,
                    round(min(m.bg['r']), 4) AS r, round(min(m.bg['alpha']), 4) AS alpha,
                    round(min(m.bg['a']), 4) AS a, round(min(m.bg['b']), 4) AS b,
                    round(min(m.gg['p']), 4) AS p, round(min(m.gg['q']), 4) AS q, round(min(m.gg['v']), 4) AS v,
                    round(sum(bg_nbd_p_alive(m.bg['r'], m.bg['alpha'], m.bg['a'], m.bg['b'],
                                             frequency, recency, \"T\")), 2) AS sum_p_alive,
                    round(sum(bg_nbd_expected_purchases(m.bg['r'], m.bg['alpha'], m.bg['a'], m.bg['b'],
                                             {horizon}, frequency, recency, \"T\")), 2) AS sum_expected,
                    round(sum(clv_discounted(m.bg['r'], m.bg['alpha'], m.bg['a'], m.bg['b'],
                                             m.gg['p'], m.gg['q'], m.gg['v'],
                                             frequency, recency, \"T\", monetary_value, {horizon}, {rate})), 2) AS sum_clv
             FROM m CROSS JOIN rfm"
        );
        let batches = ctx
            .sql(&sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        println!("{}", pretty_format_batches(&batches).expect("format"));
        let total = started.elapsed().as_secs_f64();
        eprintln!("read + fit: {fitted:.2} s, score: {:.2} s, total: {total:.2} s", total - fitted);
    });
}
