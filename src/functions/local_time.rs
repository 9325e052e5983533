//! `local_time(ts, zone)`: an instant as the wall-clock time of a time zone,
//! the SQL function that cuts days in `run.timezone` (the models call it
//! with `$timezone`).
//!
//! The raw zone stores every instant in UTC, and `CAST(ts AS DATE)` and
//! `date_trunc` on a UTC timestamp cut days at UTC midnight: an order placed
//! at 23:30 in Los Angeles on January 31 would count on February 1. SQL's
//! `ts AT TIME ZONE 'X'` followed by DataFusion's `to_local_time` does the
//! conversion, but DataFusion 55 only plans `AT TIME ZONE` with a string
//! literal, not a named parameter, so the zone could not come from the
//! config. This function takes the zone as an argument and leaves the
//! offset arithmetic (daylight-saving changes included) to DataFusion's own
//! `adjust_to_local_time`.

use std::sync::Arc;

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::functions::datetime::to_local_time::adjust_to_local_time;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `local_time(timestamp, zone) -> TIMESTAMP` (microseconds, no zone): the
/// wall-clock time in `zone` (an IANA name such as `America/Los_Angeles`, or
/// an offset such as `+02:00`) of the instant `timestamp`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LocalTime {
    signature: Signature,
}

impl Default for LocalTime {
    fn default() -> Self {
        LocalTime {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// What local_time returns: a wall-clock time, without a zone.
const LOCAL_MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        "local_time"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::Timestamp(_, _) | DataType::Null => Ok(LOCAL_MICROS),
            other => exec_err!("local_time needs a timestamp, got {other}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(z)))
            | ColumnarValue::Scalar(ScalarValue::Utf8View(Some(z)))
            | ColumnarValue::Scalar(ScalarValue::LargeUtf8(Some(z))) => z.clone(),
            _ => {
                return exec_err!(
                    "local_time's time zone must be one text value, such as $timezone"
                );
            }
        };
        let tz: Tz = zone.parse()?;
        let instants = args.args[0].to_array(args.number_rows)?;
        let micros = instant_micros(&instants)?;
        let local: TimestampMicrosecondArray =
            micros.try_unary(|ts| adjust_to_local_time::<TimestampMicrosecondType>(ts, tz))?;
        Ok(ColumnarValue::Array(Arc::new(local)))
    }
}

/// Microseconds since the epoch (UTC) of each instant. The zone is dropped
/// by a cast to UTC first: arrow's cast from a zoned to a zoneless
/// timestamp would keep the zone's wall clock instead.
fn instant_micros(array: &dyn Array) -> Result<TimestampMicrosecondArray> {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let in_utc = match array.data_type() {
        DataType::Null => return Ok(TimestampMicrosecondArray::new_null(array.len())),
        DataType::Timestamp(_, _) => cast(array, &utc)?,
        other => return exec_err!("local_time needs a timestamp, got {other}"),
    };
    Ok(in_utc
        .as_primitive::<TimestampMicrosecondType>()
        .clone()
        .with_timezone_opt(None::<String>))
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    use super::LocalTime;

    async fn local(sql_ts: &str, zone: &str) -> String {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::from(LocalTime::default()));
        let df = ctx
            .sql(&format!(
                "SELECT CAST(local_time(TIMESTAMP '{sql_ts}' AT TIME ZONE 'UTC', '{zone}') AS VARCHAR)"
            ))
            .await
            .unwrap();
        let batches = df.collect().await.unwrap();
        datafusion::arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap()
    }

    /// Los Angeles is UTC-8 until 2026-03-08 02:00 local, UTC-7 after.
    #[tokio::test]
    async fn wall_clock_follows_daylight_saving() {
        assert_eq!(
            local("2026-02-01T07:30:00", "America/Los_Angeles").await,
            "2026-01-31T23:30:00"
        );
        assert_eq!(
            local("2026-03-08T09:59:00", "America/Los_Angeles").await,
            "2026-03-08T01:59:00"
        );
        assert_eq!(
            local("2026-03-08T10:00:00", "America/Los_Angeles").await,
            "2026-03-08T03:00:00"
        );
        assert_eq!(
            local("2026-03-09T07:30:00", "America/Los_Angeles").await,
            "2026-03-09T00:30:00"
        );
        assert_eq!(
            local("2026-03-09T07:30:00", "+05:30").await,
            "2026-03-09T13:00:00"
        );
    }

    #[tokio::test]
    async fn an_unknown_zone_is_an_error() {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::from(LocalTime::default()));
        let df = ctx
            .sql("SELECT local_time(TIMESTAMP '2026-01-01T00:00:00' AT TIME ZONE 'UTC', 'Mars/Olympus')")
            .await
            .unwrap();
        let err = df.collect().await.unwrap_err().to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }
}
