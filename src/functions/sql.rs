//! The CLV models as SQL functions, registered on every session:
//!
//! | function | returns |
//! |---|---|
//! | `bg_nbd_fit(frequency, recency, age)` | aggregate: struct r, alpha, a, b, log_likelihood, customers, converged, iterations |
//! | `gamma_gamma_fit(frequency, monetary)` | aggregate: struct p, q, v, log_likelihood, customers, excluded, converged, iterations |
//! | `bg_nbd_p_alive(r, alpha, a, b, frequency, recency, age)` | probability the customer is still active |
//! | `bg_nbd_expected_purchases(r, alpha, a, b, t, frequency, recency, age)` | expected purchases in the next t weeks |
//! | `gamma_gamma_expected_value(p, q, v, frequency, monetary)` | expected average order value; NULL when q <= 1 |
//! | `clv_discounted(r, alpha, a, b, p, q, v, frequency, recency, age, monetary, horizon_weeks, annual_rate)` | discounted CLV; NULL when undefined |
//!
//! Frequency, recency and age are in weeks, as `clv::rfm_from_dates` gives
//! them. A model that cannot be fitted (no customers, nobody bought twice)
//! is a row with NULL parameters and `converged = false`, so a company
//! without order history still gets its reports; invalid rows are errors.
//! A search that ends at an edge of the parameter space (the likelihood
//! still rising as, say, BG/NBD's a and b grow together: every customer
//! drops out with the same probability) gives its best finite parameters
//! with `converged = false`: they are close to that limit model and score
//! customers sensibly, where NULL parameters left every prediction empty
//! with nothing said (`clv_model`'s data tests warn instead).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::clv::{self, BgNbd, FitError, GammaGamma, Rfm};

/// Registers every CLV function on a session.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::from(FitUdaf::new(Model::BgNbd)));
    ctx.register_udaf(AggregateUDF::from(FitUdaf::new(Model::GammaGamma)));
    for kind in [
        Scalar::PAlive,
        Scalar::ExpectedPurchases,
        Scalar::ExpectedValue,
        Scalar::Clv,
    ] {
        ctx.register_udf(ScalarUDF::from(ScalarFn::new(kind)));
    }
}

// ---------------------------------------------------------------------------
// Fitting aggregates

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Model {
    BgNbd,
    GammaGamma,
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::BgNbd => "bg_nbd_fit",
            Model::GammaGamma => "gamma_gamma_fit",
        }
    }

    fn inputs(self) -> &'static [&'static str] {
        match self {
            Model::BgNbd => &["frequency", "recency", "age"],
            Model::GammaGamma => &["frequency", "monetary"],
        }
    }

    fn fields(self) -> Fields {
        let float = |n: &str| Field::new(n, DataType::Float64, true);
        let mut fields: Vec<Field> = match self {
            Model::BgNbd => ["r", "alpha", "a", "b"].iter().map(|n| float(n)).collect(),
            Model::GammaGamma => ["p", "q", "v"].iter().map(|n| float(n)).collect(),
        };
        fields.push(float("log_likelihood"));
        fields.push(Field::new("customers", DataType::Int64, false));
        if self == Model::GammaGamma {
            fields.push(Field::new("excluded", DataType::Int64, false));
        }
        fields.push(Field::new("converged", DataType::Boolean, false));
        fields.push(Field::new("iterations", DataType::Int64, false));
        Fields::from(fields)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FitUdaf {
    model: Model,
    signature: Signature,
}

impl FitUdaf {
    fn new(model: Model) -> FitUdaf {
        let n = model.inputs().len();
        FitUdaf {
            model,
            signature: Signature::uniform(n, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for FitUdaf {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(self.model.fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FitAccumulator {
            model: self.model,
            columns: vec![Vec::new(); self.model.inputs().len()],
        }))
    }

    /// Partial aggregates ship the collected values as lists: the fit
    /// needs every customer, so there is nothing smaller to combine.
    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(self
            .model
            .inputs()
            .iter()
            .map(|name| {
                Arc::new(Field::new(
                    *name,
                    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))),
                    true,
                ))
            })
            .collect())
    }
}

#[derive(Debug)]
struct FitAccumulator {
    model: Model,
    /// One vector per input, rows aligned; rows with a NULL are skipped.
    columns: Vec<Vec<f64>>,
}

impl FitAccumulator {
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

impl Accumulator for FitAccumulator {
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
        let fields = self.model.fields();
        let values = match self.model {
            Model::BgNbd => self.fit_bg_nbd()?,
            Model::GammaGamma => self.fit_gamma_gamma()?,
        };
        let arrays: Vec<ArrayRef> = values.iter().map(|v| v.to_array()).collect::<Result<_>>()?;
        let array = datafusion::arrow::array::StructArray::try_new(fields, arrays, None)?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.columns.iter().map(|c| c.capacity() * 8).sum::<usize>()
    }
}

fn float(v: Option<f64>) -> ScalarValue {
    ScalarValue::Float64(v.filter(|x| x.is_finite()))
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

impl FitAccumulator {
    fn fit_bg_nbd(&self) -> Result<Vec<ScalarValue>> {
        let rfm: Vec<Rfm> = (0..self.columns[0].len())
            .map(|i| Rfm {
                frequency: self.columns[0][i],
                recency: self.columns[1][i],
                age: self.columns[2][i],
            })
            .collect();
        match clv::fit_bg_nbd(&rfm) {
            Ok(fit) => {
                let p = fit.params;
                let ok = fit.converged;
                let param = |v: f64| float(v.is_finite().then_some(v));
                Ok(vec![
                    param(p.r),
                    param(p.alpha),
                    param(p.a),
                    param(p.b),
                    param(fit.log_likelihood),
                    int(fit.customers),
                    ScalarValue::Boolean(Some(ok)),
                    int(u64::from(fit.iterations)),
                ])
            }
            Err(e) if unfittable(&e) => {
                tracing::warn!(error = %e, "BG/NBD not fitted");
                let mut row = vec![float(None); 5];
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

    fn fit_gamma_gamma(&self) -> Result<Vec<ScalarValue>> {
        let rows: Vec<(f64, f64)> = self.columns[0]
            .iter()
            .zip(&self.columns[1])
            .map(|(x, m)| (*x, *m))
            .collect();
        match clv::fit_gamma_gamma(&rows) {
            Ok(fit) => {
                let p = fit.params;
                let ok = fit.converged;
                let param = |v: f64| float(v.is_finite().then_some(v));
                Ok(vec![
                    param(p.p),
                    param(p.q),
                    param(p.v),
                    param(fit.log_likelihood),
                    int(fit.customers),
                    int(fit.excluded),
                    ScalarValue::Boolean(Some(ok)),
                    int(u64::from(fit.iterations)),
                ])
            }
            Err(e) if unfittable(&e) => {
                tracing::warn!(error = %e, "Gamma-Gamma not fitted");
                let mut row = vec![float(None); 4];
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
}

// ---------------------------------------------------------------------------
// Scoring functions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scalar {
    PAlive,
    ExpectedPurchases,
    ExpectedValue,
    Clv,
}

impl Scalar {
    fn name(self) -> &'static str {
        match self {
            Scalar::PAlive => "bg_nbd_p_alive",
            Scalar::ExpectedPurchases => "bg_nbd_expected_purchases",
            Scalar::ExpectedValue => "gamma_gamma_expected_value",
            Scalar::Clv => "clv_discounted",
        }
    }

    fn arity(self) -> usize {
        match self {
            Scalar::PAlive => 7,
            Scalar::ExpectedPurchases => 8,
            Scalar::ExpectedValue => 5,
            Scalar::Clv => 13,
        }
    }

    /// One row's value; `a` holds the arguments in the documented order.
    fn value(self, a: &[f64]) -> Option<f64> {
        let bg = |i: usize| BgNbd {
            r: a[i],
            alpha: a[i + 1],
            a: a[i + 2],
            b: a[i + 3],
        };
        let rfm = |i: usize| Rfm {
            frequency: a[i],
            recency: a[i + 1],
            age: a[i + 2],
        };
        let gg = |i: usize| GammaGamma {
            p: a[i],
            q: a[i + 1],
            v: a[i + 2],
        };
        let v = match self {
            Scalar::PAlive => Some(bg(0).p_alive(&rfm(4))),
            Scalar::ExpectedPurchases => Some(bg(0).expected_purchases(a[4], &rfm(5))),
            Scalar::ExpectedValue => gg(0).expected_average_value(a[3], a[4]),
            Scalar::Clv => clv::discounted_clv(&bg(0), &gg(4), &rfm(7), a[10], a[11], a[12]),
        };
        v.filter(|x| x.is_finite())
    }
}

#[derive(Debug)]
struct ScalarFn {
    kind: Scalar,
    signature: Signature,
    /// Per-(frequency, age) results, see [`clv_value`].
    cache: Mutex<Cache>,
}

/// Functions are equal by kind: the cache is an optimisation, not identity.
impl PartialEq for ScalarFn {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for ScalarFn {}

impl std::hash::Hash for ScalarFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

impl ScalarFn {
    fn new(kind: Scalar) -> ScalarFn {
        ScalarFn {
            kind,
            signature: Signature::uniform(
                kind.arity(),
                vec![DataType::Float64],
                Volatility::Immutable,
            ),
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl ScalarUDFImpl for ScalarFn {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let columns: Vec<&Float64Array> = arrays
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        let rows = args.number_rows;
        let out = match self.kind {
            Scalar::ExpectedPurchases => {
                let mut cache = self.cache();
                map_rows(&columns, rows, |a| expected_purchases(a, &mut cache))
            }
            Scalar::Clv => {
                let mut cache = self.cache();
                map_rows(&columns, rows, |a| clv_value(a, &mut cache))
            }
            kind => map_rows(&columns, rows, |a| kind.value(a)),
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

type Cache = HashMap<[u64; 8], Option<f64>>;

impl ScalarFn {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > CACHE_LIMIT {
            cache.clear();
        }
        cache
    }
}

/// Applies `f` to every row's arguments: NULL in, NULL out, and a result
/// that is not finite becomes NULL, never NaN.
fn map_rows(
    columns: &[&Float64Array],
    rows: usize,
    mut f: impl FnMut(&[f64]) -> Option<f64>,
) -> Float64Array {
    let mut row = vec![0.0; columns.len()];
    (0..rows)
        .map(|i| {
            if columns.iter().any(|c| c.is_null(i)) {
                return None;
            }
            for (slot, column) in row.iter_mut().zip(columns) {
                *slot = column.value(i);
            }
            f(&row).filter(|v| v.is_finite())
        })
        .collect()
}

/// Expected purchases: P(alive) per row times the expectation for a
/// customer known to be alive, which depends on (model, t, frequency, age)
/// only, so it is computed once per distinct key and cached across batches
/// (customers summarised from order dates share few such keys).
fn expected_purchases(a: &[f64], cache: &mut Cache) -> Option<f64> {
    let bg = BgNbd {
        r: a[0],
        alpha: a[1],
        a: a[2],
        b: a[3],
    };
    let (t, customer) = (
        a[4],
        Rfm {
            frequency: a[5],
            recency: a[6],
            age: a[7],
        },
    );
    if t.is_nan() || t <= 0.0 {
        return Some(0.0);
    }
    let key = [0, 1, 2, 3, 4, 5, 7, 7].map(|c| a[c].to_bits());
    let if_alive = *cache.entry(key).or_insert_with(|| {
        Some(bg.expected_purchases_if_alive(t, customer.frequency, customer.age))
    });
    Some(bg.p_alive(&customer) * if_alive?)
}

/// Discounted CLV: expected order value x P(alive) x the discounted
/// purchases of a customer known to be alive, the costly part, cached per
/// (model, frequency, age, horizon, rate) like [`expected_purchases`].
fn clv_value(a: &[f64], cache: &mut Cache) -> Option<f64> {
    let bg = BgNbd {
        r: a[0],
        alpha: a[1],
        a: a[2],
        b: a[3],
    };
    let gg = GammaGamma {
        p: a[4],
        q: a[5],
        v: a[6],
    };
    let customer = Rfm {
        frequency: a[7],
        recency: a[8],
        age: a[9],
    };
    let key = [0, 1, 2, 3, 7, 9, 11, 12].map(|c| a[c].to_bits());
    let if_alive = *cache
        .entry(key)
        .or_insert_with(|| clv::discounted_purchases_if_alive(&bg, &customer, a[11], a[12]));
    let value = gg.expected_average_value(customer.frequency, a[10])?;
    Some(value * bg.p_alive(&customer) * if_alive?)
}

/// Distinct (model, frequency, age, horizon, rate) entries kept between
/// batches; far above what order-date summaries produce.
const CACHE_LIMIT: usize = 4_000_000;
