//! The review-site exports: Trustpilot API responses per calendar year and
//! a Google Business Profile CSV.

use chrono::{Datelike, NaiveDate};

use super::super::calendar::{DAY_MS, date_ms, fmt_z, fmt_z_millis, utc};
use super::super::random::stable_hex;
use super::super::reviews::{Review, Site};
use super::super::sink::{Layout, Records};
use super::super::{Block, Ctx};
use super::{csv_row, json_str};

const STAR_WORDS: [&str; 5] = ["ONE", "TWO", "THREE", "FOUR", "FIVE"];

/// The Trustpilot business-units reviews API response, saved once per
/// calendar year: `{"reviews": [...], "links": [...]}`.
pub(super) fn trustpilot_layout(year: i32) -> Layout {
    Layout {
        header: "{\n  \"reviews\": [\n".into(),
        terminator: "",
        separator: ",\n",
        footer: format!(
            "\n  ],\n  \"links\": [\n    {{\"href\": \"https://api.trustpilot.com/v1/business-units/5f1e3c9a8b7d6e0012345678/reviews?startDateTime={year}-01-01T00:00:00Z&perPage=100&page=1\", \"method\": \"GET\", \"rel\": \"self\"}}\n  ]\n}}\n"
        ),
    }
}

pub(super) fn google_layout() -> Layout {
    Layout {
        header: "review_id,reviewer_name,star_rating,comment,create_time\n".into(),
        terminator: "\n",
        separator: "",
        footer: String::new(),
    }
}

fn hash_name(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn trustpilot_json(ctx: &Ctx, x: &Review, id: Option<&str>, created: &str, stars: u8) -> String {
    let consumer_id = stable_hex(ctx.seed, "tp-consumer", hash_name(&x.author), 24);
    let id = id.map(json_str).unwrap_or_else(|| "null".to_string());
    format!(
        "    {{\"id\": {id}, \"stars\": {stars}, \"title\": {}, \"text\": {}, \"language\": \"en\", \"createdAt\": {}, \"isVerified\": {}, \"consumer\": {{\"id\": {}, \"displayName\": {}, \"countryCode\": {}, \"numberOfReviews\": {}}}, \"companyReply\": null}}",
        json_str(x.title),
        json_str(x.text),
        json_str(created),
        x.verified,
        json_str(&consumer_id),
        json_str(&x.author),
        json_str(x.country_code),
        1 + hash_name(&x.author) % 7,
    )
}

pub(super) fn trustpilot(ctx: &Ctx, block: &Block, year: i32, out: &mut Records) {
    for x in &block.reviews {
        if x.site == Site::Trustpilot && utc(x.at_ms).year() == year {
            let id = stable_hex(ctx.seed, "tp-review", x.key, 24);
            out.push(&trustpilot_json(
                ctx,
                x,
                Some(&id),
                &fmt_z(x.at_ms),
                x.stars,
            ));
        }
    }
}

/// Stars 0 and 6, a null id, "yesterday", year 2099; each yearly file gets
/// three of them, rotating, so every kind is covered across files.
pub(super) fn bad_trustpilot(ctx: &Ctx, year: i32, file_no: usize) -> Vec<String> {
    let template = Review {
        key: 0,
        site: Site::Trustpilot,
        author: "Pat K.".to_string(),
        at_ms: 0,
        stars: 4,
        title: "Good",
        text: "Nice products.",
        verified: false,
        country_code: "GB",
    };
    let jan1 = date_ms(NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date"));
    let june = date_ms(NaiveDate::from_ymd_opt(year, 6, 15).expect("valid date"));
    let ok_date = fmt_z(
        june.min(ctx.end_ms - DAY_MS)
            .max(jan1.max(ctx.trustpilot_from_ms)),
    );
    let id = |k: usize| stable_hex(ctx.seed, "tp-bad", (year as u64) * 10 + k as u64, 24);
    let t = &template;
    let kinds: [Box<dyn Fn() -> String>; 5] = [
        Box::new(|| trustpilot_json(ctx, t, Some(&id(0)), &ok_date, 0)),
        Box::new(|| trustpilot_json(ctx, t, Some(&id(1)), &ok_date, 6)),
        Box::new(|| trustpilot_json(ctx, t, None, &ok_date, 4)),
        Box::new(|| trustpilot_json(ctx, t, Some(&id(3)), "yesterday", 4)),
        Box::new(|| trustpilot_json(ctx, t, Some(&id(4)), "2099-01-01T00:00:00Z", 4)),
    ];
    (0..3)
        .map(|k| kinds[(file_no * 3 + k) % kinds.len()]())
        .collect()
}

fn google_review_id(ctx: &Ctx, k: u64) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let h = stable_hex(ctx.seed, "google-review", k, 40);
    let tail: String = h
        .as_bytes()
        .chunks(2)
        .map(|p| {
            B64[(u8::from_str_radix(std::str::from_utf8(p).unwrap_or("0"), 16).unwrap_or(0) % 64)
                as usize] as char
        })
        .collect();
    format!("ChZDSUhNMG9nS0VJQ0Fn{tail}")
}

/// A Google Business Profile export: star ratings as words, RFC 3339 with
/// milliseconds, and often no comment at all.
pub(super) fn google(ctx: &Ctx, block: &Block, out: &mut Records) {
    for x in block.reviews.iter().filter(|x| x.site == Site::Google) {
        let comment = if hash_name(&x.author).is_multiple_of(4) {
            ""
        } else {
            x.text
        };
        out.push(&csv_row(
            &[
                &google_review_id(ctx, x.key),
                &x.author,
                STAR_WORDS[x.stars as usize - 1],
                comment,
                &fmt_z_millis(x.at_ms),
            ],
            ',',
        ));
    }
}

/// Rating ZERO, "yesterday", no review id, and an unquoted comma in the
/// comment.
pub(super) fn bad_google(ctx: &Ctx) -> Vec<String> {
    let id = |k: u64| google_review_id(ctx, (1 << 50) + k);
    let at = |days: i64| fmt_z_millis(ctx.mid_ms + days * DAY_MS + 123);
    vec![
        csv_row(&[&id(1), "Robin Vale", "ZERO", "Meh.", &at(0)], ','),
        csv_row(
            &[&id(2), "Kai Moss", "FOUR", "Good stuff", "yesterday"],
            ',',
        ),
        csv_row(&["", "Lee Park", "FIVE", "Great!", &at(1)], ','),
        format!("{},Ann Lowe,THREE,Okay, could be better,{}", id(4), at(2)),
    ]
}
