//! The social exports: X API v2 tweets and Discourse forum posts, one JSON
//! object per line.

use super::super::calendar::fmt_z_millis;
use super::super::sink::Records;
use super::super::social::{ANSWERS, Post, TOPICS, Tweet};
use super::super::{Block, Ctx};
use super::json_str;

fn tweet_json(t: &Tweet, id: Option<u64>, created: &str) -> String {
    let id = id.map(|v| format!("\"id\":\"{v}\",")).unwrap_or_default();
    let referenced = t
        .reference
        .map(|(kind, rid)| {
            format!(",\"referenced_tweets\":[{{\"type\":\"{kind}\",\"id\":\"{rid}\"}}]")
        })
        .unwrap_or_default();
    format!(
        "{{{id}\"created_at\":{},\"text\":{},\"author_id\":\"{}\",\"author\":{{\"username\":{},\"public_metrics\":{{\"followers_count\":{}}}}},\"public_metrics\":{{\"like_count\":{},\"retweet_count\":{}}}{referenced},\"event_type\":\"{}\",\"competitor\":{}}}",
        json_str(created),
        json_str(&t.text),
        t.author_id,
        json_str(&t.author),
        t.followers,
        t.likes,
        t.retweets,
        t.kind,
        t.competitor,
    )
}

/// X API v2 tweets, one per line, with the author expanded inline and the
/// flat `event_type`/`competitor` tags the export pipeline adds.
pub(super) fn tweets(block: &Block, out: &mut Records) {
    for t in &block.tweets {
        out.push(&tweet_json(t, Some(t.id), &fmt_z_millis(t.at_ms)));
    }
}

/// A line cut off mid-write, no id, "yesterday", and a date before 1970.
pub(super) fn bad_tweets(ctx: &Ctx) -> Vec<String> {
    let t = Tweet {
        id: 1_900_000_000_000_000_000,
        author: "nobody_special".to_string(),
        author_id: 42,
        followers: 12,
        at_ms: 0,
        kind: "mention",
        text: "Loving my new order from @fernhillgoods".to_string(),
        likes: 1,
        retweets: 0,
        reference: None,
        competitor: false,
    };
    let good = fmt_z_millis(ctx.mid_ms);
    let full = tweet_json(&t, Some(t.id + 1), &good);
    vec![
        full[..full.find("Loving my").unwrap_or(full.len() / 2) + 9].to_string(),
        tweet_json(&t, None, &good),
        tweet_json(&t, Some(t.id + 2), "yesterday"),
        tweet_json(&t, Some(t.id + 3), "1969-07-20T20:17:40.000Z"),
    ]
}

fn post_json(p: &Post, id: Option<u64>, author: Option<&str>, created: &str) -> String {
    format!(
        "{{\"post_id\":{},\"username\":{},\"created_at\":{},\"kind\":\"{}\",\"likes\":{},\"topic\":{},\"text\":{}}}",
        id.map(|v| v.to_string()).unwrap_or_else(|| "null".into()),
        author.map(json_str).unwrap_or_else(|| "null".into()),
        json_str(created),
        p.kind,
        p.likes,
        json_str(p.topic),
        json_str(p.text),
    )
}

/// A Discourse export of forum posts, one JSON object per line; answers and
/// accepted answers are what make someone an educator.
pub(super) fn posts(block: &Block, out: &mut Records) {
    for p in &block.posts {
        out.push(&post_json(
            p,
            Some(p.id),
            Some(&p.author),
            &fmt_z_millis(p.at_ms),
        ));
    }
}

/// A truncated line, a null post id, year 2099, and a kind that is no
/// event type (a post without a username is an anonymous one, not bad).
pub(super) fn bad_posts(ctx: &Ctx) -> Vec<String> {
    let p = Post {
        id: 0,
        author: "fernhill_sam".to_string(),
        at_ms: 0,
        kind: "answer",
        likes: 1,
        topic: TOPICS[0],
        text: ANSWERS[0],
    };
    let id = |k: u64| 10_000 + 300_000_000_000 + k;
    let good = fmt_z_millis(ctx.mid_ms);
    let full = post_json(&p, Some(id(1)), Some(&p.author), &good);
    vec![
        full[..full.len() - 40].to_string(),
        post_json(&p, None, Some(&p.author), &good),
        post_json(&p, Some(id(2)), Some(&p.author), "2099-01-01T00:00:00.000Z"),
        post_json(
            &Post {
                kind: "upvote",
                ..p.clone()
            },
            Some(id(3)),
            Some(&p.author),
            &good,
        ),
    ]
}
