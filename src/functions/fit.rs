//! The two fitting aggregates, `bg_nbd_fit(frequency, recency, age)` and
//! `gamma_gamma_fit(frequency, monetary)`: each returns one struct of the
//! fitted parameters, the log-likelihood, how many customers it saw and
//! whether the search converged.
//!
//! A model that cannot be fitted (no customers, nobody bought twice) is a
//! row with NULL parameters and `converged = false`, so a company without
//! order history still gets its reports; invalid rows are errors. A search
//! that ends at an edge of the parameter space (the likelihood still rising
//! as, say, BG/NBD's a and b grow together: every customer drops out with
//! the same probability) gives its best finite parameters with `converged =
//! false`: they are close to that limit model and score customers sensibly,
//! where NULL parameters left every prediction empty with nothing said
//! (`clv_model`'s data tests warn instead).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};

use super::clv::{self, FitError, Rfm};

/// `bg_nbd_fit(frequency, recency, age)`, all DOUBLE in weeks, returns
/// `STRUCT<r, alpha, a, b, log_likelihood DOUBLE, customers BIGINT,
/// converged BOOLEAN, iterations BIGINT>`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BgNbdFit {
    signature: Signature,
}

impl Default for BgNbdFit {
    fn default() -> Self {
        BgNbdFit {
            signature: Signature::uniform(3, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

const BG_NBD_INPUTS: [&str; 3] = ["frequency", "recency", "age"];

fn bg_nbd_fields() -> Fields {
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        float("r"),
        float("alpha"),
        float("a"),
        float("b"),
        float("log_likelihood"),
        Field::new("customers", DataType::Int64, false),
        Field::new("converged", DataType::Boolean, false),
        Field::new("iterations", DataType::Int64, false),
    ])
}

impl AggregateUDFImpl for BgNbdFit {
    fn name(&self) -> &str {
        "bg_nbd_fit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(bg_nbd_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Collected::new(
            BG_NBD_INPUTS.len(),
            bg_nbd_fields(),
            fit_bg_nbd,
        )))
    }

    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state(&BG_NBD_INPUTS))
    }
}

fn fit_bg_nbd(columns: &[Vec<f64>]) -> Result<Vec<ScalarValue>> {
    let [frequency, recency, age] = columns else {
        unreachable!("three inputs by the signature");
    };
    let rfm: Vec<Rfm> = (0..frequency.len())
        .map(|i| Rfm {
            frequency: frequency[i],
            recency: recency[i],
            age: age[i],
        })
        .collect();
    match clv::fit_bg_nbd(&rfm) {
        Ok(fit) => {
            let p = fit.params;
            Ok(vec![
                float(p.r),
                float(p.alpha),
                float(p.a),
                float(p.b),
                float(fit.log_likelihood),
                int(fit.customers),
                ScalarValue::Boolean(Some(fit.converged)),
                int(u64::from(fit.iterations)),
            ])
        }
        Err(e) if unfittable(&e) => {
            tracing::warn!(error = %e, "BG/NBD not fitted");
            let mut row = vec![ScalarValue::Float64(None); 5];
            row.extend([
                int(rfm.len() as u64),
                ScalarValue::Boolean(Some(false)),
                int(0),
            ]);
            Ok(row)
        }
        Err(e) => exec_err!("bg_nbd_fit: {e}"),
    }
}

/// `gamma_gamma_fit(frequency, monetary)`, DOUBLE (repeat purchases, and
/// their mean value), returns `STRUCT<p, q, v, log_likelihood DOUBLE,
/// customers BIGINT, excluded BIGINT, converged BOOLEAN, iterations
/// BIGINT>`; `excluded` counts the rows without a repeat purchase or with
/// no positive spend, which say nothing about spend.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GammaGammaFit {
    signature: Signature,
}

impl Default for GammaGammaFit {
    fn default() -> Self {
        GammaGammaFit {
            signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

const GAMMA_GAMMA_INPUTS: [&str; 2] = ["frequency", "monetary"];

fn gamma_gamma_fields() -> Fields {
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        float("p"),
        float("q"),
        float("v"),
        float("log_likelihood"),
        Field::new("customers", DataType::Int64, false),
        Field::new("excluded", DataType::Int64, false),
        Field::new("converged", DataType::Boolean, false),
        Field::new("iterations", DataType::Int64, false),
    ])
}

impl AggregateUDFImpl for GammaGammaFit {
    fn name(&self) -> &str {
        "gamma_gamma_fit"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(gamma_gamma_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Collected::new(
            GAMMA_GAMMA_INPUTS.len(),
            gamma_gamma_fields(),
            fit_gamma_gamma,
        )))
    }

    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(list_state(&GAMMA_GAMMA_INPUTS))
    }
}

fn fit_gamma_gamma(columns: &[Vec<f64>]) -> Result<Vec<ScalarValue>> {
    let [frequency, monetary] = columns else {
        unreachable!("two inputs by the signature");
    };
    let rows: Vec<(f64, f64)> = frequency
        .iter()
        .copied()
        .zip(monetary.iter().copied())
        .collect();
    match clv::fit_gamma_gamma(&rows) {
        Ok(fit) => {
            let p = fit.params;
            Ok(vec![
                float(p.p),
                float(p.q),
                float(p.v),
                float(fit.log_likelihood),
                int(fit.customers),
                int(fit.excluded),
                ScalarValue::Boolean(Some(fit.converged)),
                int(u64::from(fit.iterations)),
            ])
        }
        Err(e) if unfittable(&e) => {
            tracing::warn!(error = %e, "Gamma-Gamma not fitted");
            let mut row = vec![ScalarValue::Float64(None); 4];
            row.extend([
                int(0),
                int(rows.len() as u64),
                ScalarValue::Boolean(Some(false)),
                int(0),
            ]);
            Ok(row)
        }
        Err(e) => exec_err!("gamma_gamma_fit: {e}"),
    }
}

/// A finite value, or NULL: a fit never publishes NaN or infinity.
fn float(v: f64) -> ScalarValue {
    ScalarValue::Float64(v.is_finite().then_some(v))
}

fn int(v: u64) -> ScalarValue {
    ScalarValue::Int64(Some(v as i64))
}

/// Data that cannot identify a model gives a flagged row, not a failed run.
fn unfittable(error: &FitError) -> bool {
    matches!(
        error,
        FitError::NoCustomers { .. } | FitError::Unidentifiable { .. }
    )
}

/// Partial aggregates ship the collected values as lists, one per input:
/// the fit needs every customer, so there is nothing smaller to combine.
fn list_state(inputs: &[&str]) -> Vec<FieldRef> {
    inputs
        .iter()
        .map(|name| {
            Arc::new(Field::new(
                *name,
                DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                true,
            ))
        })
        .collect()
}

/// Collects every row's inputs (rows with a NULL are skipped) and fits once
/// at the end: `fit` turns the columns into the values of `fields`.
#[derive(Debug)]
struct Collected {
    fields: Fields,
    fit: fn(&[Vec<f64>]) -> Result<Vec<ScalarValue>>,
    /// One vector per input, rows aligned.
    columns: Vec<Vec<f64>>,
}

impl Collected {
    fn new(
        inputs: usize,
        fields: Fields,
        fit: fn(&[Vec<f64>]) -> Result<Vec<ScalarValue>>,
    ) -> Collected {
        Collected {
            fields,
            fit,
            columns: vec![Vec::new(); inputs],
        }
    }

    fn push_rows(&mut self, arrays: &[&Float64Array]) {
        for row in 0..arrays[0].len() {
            if arrays.iter().all(|a| a.is_valid(row)) {
                for (column, array) in self.columns.iter_mut().zip(arrays) {
                    column.push(array.value(row));
                }
            }
        }
    }
}

impl Accumulator for Collected {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let arrays: Vec<&Float64Array> = values
            .iter()
            .map(|v| v.as_primitive::<Float64Type>())
            .collect();
        self.push_rows(&arrays);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states.iter().map(|s| s.as_list::<i32>()).collect();
        for row in 0..lists[0].len() {
            let values: Vec<ArrayRef> = lists.iter().map(|l| l.value(row)).collect();
            let arrays: Vec<&Float64Array> = values
                .iter()
                .map(|v| v.as_primitive::<Float64Type>())
                .collect();
            self.push_rows(&arrays);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // One list per input, built as an array: a ScalarValue per value
        // would cost an allocation per customer.
        Ok(self
            .columns
            .iter()
            .map(|column| {
                let values = Float64Array::from(column.clone());
                ScalarValue::List(
                    SingleRowListArrayBuilder::new(Arc::new(values))
                        .build_list_array()
                        .into(),
                )
            })
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = (self.fit)(&self.columns)?;
        let arrays: Vec<ArrayRef> = values.iter().map(|v| v.to_array()).collect::<Result<_>>()?;
        let array = StructArray::try_new(self.fields.clone(), arrays, None)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.columns.iter().map(|c| c.capacity() * 8).sum::<usize>()
    }
}
