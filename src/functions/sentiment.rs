//! `text_sentiment(text)`: the sentiment of a short social text, for
//! exports that carry none, as VADER's compound score in [-1, 1] (Hutto
//! and Gilbert, ICWSM 2014; the `vader-parity` crate, whose scores equal
//! the reference Python package's). VADER's own convention reads a
//! compound of 0.05 or more as positive and -0.05 or less as negative.
//! English only: other languages score near 0 (neutral), and sarcasm
//! reads as what its words say. `bench/README.md` has its accuracy on a
//! labelled set of tweets.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use vader_parity::SentimentIntensityAnalyzer;

/// The analyzer, its lexicons parsed once per process.
fn analyzer() -> &'static SentimentIntensityAnalyzer {
    static ANALYZER: OnceLock<SentimentIntensityAnalyzer> = OnceLock::new();
    ANALYZER.get_or_init(SentimentIntensityAnalyzer::new)
}

/// VADER's compound score of `text`.
pub fn score(text: &str) -> f64 {
    analyzer().polarity_scores(text).compound
}

/// `text_sentiment(text) -> DOUBLE`: VADER's compound score; NULL for a
/// NULL text.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TextSentiment {
    signature: Signature,
}

impl Default for TextSentiment {
    fn default() -> Self {
        TextSentiment {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TextSentiment {
    fn name(&self) -> &str {
        "text_sentiment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
                Ok(DataType::Float64)
            }
            other => exec_err!("text_sentiment needs a text, got {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = cast(&texts, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let scores: Float64Array = texts.iter().map(|t| t.map(score)).collect();
        Ok(ColumnarValue::Array(Arc::new(scores) as Arc<dyn Array>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// The reference package's own examples (vaderSentiment 3.3.2's
    /// README): a positive sentence, its negation, a negated negative.
    #[test]
    fn scores_are_vaders() {
        assert_eq!(score("VADER is smart, handsome, and funny."), 0.8316);
        assert_eq!(score("VADER is not smart, handsome, nor funny."), -0.7424);
        assert_eq!(score("At least it isn't a horrible book."), 0.431);
        assert_eq!(score(""), 0.0);
    }

    #[tokio::test]
    async fn sql_gets_a_score_per_text_and_null_for_null() {
        let ctx = SessionContext::new();
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
            TextSentiment::default(),
        ));
        let batches = ctx
            .sql(
                "SELECT text_sentiment(t) AS s FROM (VALUES ('The book was good.'), \
                 ('Worst service ever, never again'), (NULL)) AS v(t)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let scores = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(scores.value(0), 0.4404);
        assert!(scores.value(1) < -0.05, "{}", scores.value(1));
        assert!(scores.is_null(2));
    }
}
