//! The quarantine zone's rows: every rejected record with its file, row,
//! field and reason, emails redacted unless PII is kept.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::mapping::LoadContext;
use super::rows::Rejection;
use crate::config::Pii;
use crate::pii;
use crate::schema::timestamp_type;

/// The quarantine table's schema: one row per rejected record.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("entity", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("row", DataType::Int64, false),
        Field::new("field", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw_record", DataType::Utf8, false),
        Field::new("_loaded_at", timestamp_type(), false),
    ]))
}

/// Accumulates rejected records of one landing file.
pub struct QuarantineRows {
    ctx: Arc<LoadContext>,
    file: String,
    row: Int64Builder,
    field: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
    rows: usize,
}

impl QuarantineRows {
    pub fn new(ctx: Arc<LoadContext>, file: &str) -> QuarantineRows {
        QuarantineRows {
            ctx,
            file: file.to_string(),
            row: Int64Builder::new(),
            field: StringBuilder::new(),
            reason: StringBuilder::new(),
            raw: StringBuilder::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Records a rejected row; the raw record and the reason (which may
    /// quote the bad value) have emails redacted unless PII is kept,
    /// because quarantine is part of the warehouse too.
    pub fn push(&mut self, row: i64, rejection: &Rejection, raw_record: &str) {
        self.row.append_value(row);
        self.field.append_option(rejection.field.as_deref());
        if self.ctx.pii == Pii::Keep {
            self.reason.append_value(&rejection.reason);
            self.raw.append_value(raw_record);
        } else {
            self.reason
                .append_value(pii::redact_emails(&rejection.reason, &self.ctx.salt));
            self.raw
                .append_value(pii::redact_emails(raw_record, &self.ctx.salt));
        }
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let n = self.rows;
        let constant = |v: &str| -> ArrayRef {
            Arc::new(datafusion::arrow::array::StringArray::from(vec![v; n]))
        };
        let loaded_at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut loaded_at = loaded_at;
        loaded_at.append_slice(&vec![self.ctx.loaded_at; n]);
        let arrays: Vec<ArrayRef> = vec![
            constant(&self.ctx.source),
            constant(self.ctx.entity.name()),
            constant(&self.file),
            Arc::new(self.row.finish()),
            Arc::new(self.field.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(loaded_at.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(quarantine_schema(), arrays).expect("builders follow the schema")
    }
}
