//! How well `text_sentiment` (VADER) reads short social texts: scored
//! against the 4,200 tweets of Hutto and Gilbert's ground truth, each
//! rated by 20 people from -4 to 4 (the mean is the label). Prints the
//! correlation of VADER's compound with the people's mean and the share of
//! clearly positive or negative tweets (|mean| >= 0.5) whose sign VADER
//! gets (a compound within +-0.05, VADER's neutral, counts as a miss).
//! `bash bench/sentiment.sh` downloads the file and runs this.

use advocacy::functions::sentiment::score;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: sentiment_accuracy <tweets_GroundTruth.txt>");
    let text = std::fs::read_to_string(&path).expect("readable ground truth");
    let rows: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let _id = fields.next()?;
            let mean: f64 = fields.next()?.trim().parse().ok()?;
            Some((mean, score(fields.next()?)))
        })
        .collect();
    let n = rows.len() as f64;
    let (mx, my) = (
        rows.iter().map(|r| r.0).sum::<f64>() / n,
        rows.iter().map(|r| r.1).sum::<f64>() / n,
    );
    let cov: f64 = rows.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let (vx, vy): (f64, f64) = (
        rows.iter().map(|(x, _)| (x - mx).powi(2)).sum(),
        rows.iter().map(|(_, y)| (y - my).powi(2)).sum(),
    );
    let signed: Vec<&(f64, f64)> = rows.iter().filter(|(mean, _)| mean.abs() >= 0.5).collect();
    let right = signed
        .iter()
        .filter(|(mean, compound)| {
            (*mean > 0.0 && *compound >= 0.05) || (*mean < 0.0 && *compound <= -0.05)
        })
        .count();
    let complaints: Vec<&&(f64, f64)> = signed.iter().filter(|(mean, _)| *mean < 0.0).collect();
    let complaints_positive = complaints.iter().filter(|(_, c)| *c >= 0.05).count();
    println!("tweets: {}", rows.len());
    println!(
        "correlation with the people's mean: {:.3}",
        cov / (vx * vy).sqrt()
    );
    println!(
        "sign right on clearly signed tweets: {right} of {} ({:.1}%)",
        signed.len(),
        100.0 * right as f64 / signed.len() as f64
    );
    println!(
        "negative tweets VADER reads as positive (would count as advocacy): {complaints_positive} of {} ({:.1}%)",
        complaints.len(),
        100.0 * complaints_positive as f64 / complaints.len() as f64
    );
}
