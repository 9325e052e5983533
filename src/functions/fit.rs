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
    result_fields(&["r", "alpha", "a", "b"], &["customers"])
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
            let fitted = Fitted {
                log_likelihood: fit.log_likelihood,
                converged: fit.converged,
                iterations: fit.iterations,
            };
            Ok(fitted.row(&[p.r, p.alpha, p.a, p.b], &[fit.customers]))
        }
        Err(e) if unfittable(&e) => {
            tracing::warn!(error = %e, "BG/NBD not fitted");
            Ok(Fitted::NONE.row(&[f64::NAN; 4], &[rfm.len() as u64]))
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
    result_fields(&["p", "q", "v"], &["customers", "excluded"])
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
            let fitted = Fitted {
                log_likelihood: fit.log_likelihood,
                converged: fit.converged,
                iterations: fit.iterations,
            };
            Ok(fitted.row(&[p.p, p.q, p.v], &[fit.customers, fit.excluded]))
        }
        Err(e) if unfittable(&e) => {
            tracing::warn!(error = %e, "Gamma-Gamma not fitted");
            Ok(Fitted::NONE.row(&[f64::NAN; 3], &[0, rows.len() as u64]))
        }
        Err(e) => exec_err!("gamma_gamma_fit: {e}"),
    }
}

/// A finite value, or NULL: a fit never publishes NaN or infinity.
fn float(v: f64) -> ScalarValue {
    ScalarValue::Float64(v.is_finite().then_some(v))
}

/// A fit's struct: its parameters (DOUBLE, NULL when not fitted), the
/// log-likelihood, its counts of customers (BIGINT), whether it converged
/// and its iterations.
fn result_fields(params: &[&str], counts: &[&str]) -> Fields {
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    let mut fields: Vec<Field> = params.iter().map(|n| float(n)).collect();
    fields.push(float("log_likelihood"));
    fields.extend(
        counts
            .iter()
            .map(|n| Field::new(*n, DataType::Int64, false)),
    );
    fields.push(Field::new("converged", DataType::Boolean, false));
    fields.push(Field::new("iterations", DataType::Int64, false));
    Fields::from(fields)
}

/// What every fit reports besides its parameters and counts.
struct Fitted {
    log_likelihood: f64,
    converged: bool,
    iterations: u32,
}

impl Fitted {
    /// A model the data cannot identify: no likelihood, not converged.
    const NONE: Fitted = Fitted {
        log_likelihood: f64::NAN,
        converged: false,
        iterations: 0,
    };

    /// The values of [`result_fields`], in order; a value that is not
    /// finite is NULL.
    fn row(&self, params: &[f64], counts: &[u64]) -> Vec<ScalarValue> {
        let mut row: Vec<ScalarValue> = params.iter().map(|&v| float(v)).collect();
        row.push(float(self.log_likelihood));
        row.extend(counts.iter().map(|&c| ScalarValue::Int64(Some(c as i64))));
        row.push(ScalarValue::Boolean(Some(self.converged)));
        row.push(ScalarValue::Int64(Some(i64::from(self.iterations))));
        row
    }
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
