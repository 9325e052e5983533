//! The finance export: the ECB's euro reference rates, as its data portal
//! (data.ecb.europa.eu) downloads series `EXR.D.<currency>.EUR.SP00.A` in
//! CSV: one row per currency and business day, OBS_VALUE units of the
//! currency for one euro.

use super::super::Ctx;
use super::super::calendar::{DAY_MS, utc};
use super::super::exchange::{QUOTED, ecb_rate, publication_days};
use super::super::sink::{Layout, Records};
use super::csv_row;

const HEADER: &str =
    "KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE,OBS_STATUS,TITLE";

pub(super) fn layout() -> Layout {
    Layout {
        header: format!("{HEADER}\n"),
        terminator: "\n",
        separator: "",
        footer: String::new(),
    }
}

fn title(currency: &str) -> &'static str {
    match currency {
        "USD" => "US dollar/Euro",
        "GBP" => "UK pound sterling/Euro",
        "CAD" => "Canadian dollar/Euro",
        _ => "Australian dollar/Euro",
    }
}

fn row(currency: &str, day: &str, value: &str) -> String {
    let key = format!("EXR.D.{currency}.EUR.SP00.A");
    csv_row(
        &[
            &key,
            "D",
            currency,
            "EUR",
            "SP00",
            "A",
            day,
            value,
            "A",
            title(currency),
        ],
        ',',
    )
}

/// Every published rate of the period, series by series as the portal
/// concatenates them. The world's rates do not depend on its customers, so
/// only the first block writes them.
pub(super) fn rates(ctx: &Ctx, first_block: bool, out: &mut Records) {
    if !first_block {
        return;
    }
    let days = publication_days(ctx.start_ms, ctx.end_ms);
    for currency in QUOTED {
        for day in &days {
            out.push(&row(
                currency,
                &day.to_string(),
                &format!("{:.4}", ecb_rate(currency, *day)),
            ));
        }
    }
}

/// "NaN" where the portal had no observation, and a rate of zero.
pub(super) fn bad_rates(ctx: &Ctx) -> Vec<String> {
    let day = utc(ctx.mid_ms + DAY_MS).date_naive().to_string();
    vec![row("USD", &day, "NaN"), row("GBP", &day, "0.0000")]
}
