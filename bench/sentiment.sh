#!/usr/bin/env bash
# How well text_sentiment (VADER) reads short social texts (issue 28,
# point 5): Hutto and Gilbert's 4,200 tweets, each rated by 20 people
# (vaderSentiment's repository, the commit that last holds the file
# unpacked), scored by examples/sentiment_accuracy.rs.
#   bash bench/sentiment.sh
set -euo pipefail
cd "$(dirname "$0")/.."

commit=18c86513ea60b02fce8f3b1b598da43042d91b08
file=bench/data/tweets_GroundTruth.txt
mkdir -p bench/data
if [ ! -f "$file" ]; then
    curl -sSfL -o "$file" \
        "https://raw.githubusercontent.com/cjhutto/vaderSentiment/$commit/additional_resources/hutto_ICWSM_2014/tweets_GroundTruth.txt"
fi
echo "1a553d326344f17de80a4782e0b7f5843cdacbf7719a4a321721c773015b7e64  $file" | sha256sum --check --quiet
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${ADVOCACY_CACHE:-$HOME/.cache/advocacy}/target}"
cargo run --release --quiet --example sentiment_accuracy -- "$file"
