//! Parquet files of string columns, the shape of every table synthcti writes
//! (`augmented.parquet`, `export --to parquet`): snappy-compressed (pandas' default codec),
//! written in row groups of [`ROWS_PER_GROUP`] rows, readable unchanged by pandas, pyarrow
//! and `datasets.load_dataset("parquet", ...)`.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{OutputError, encode_err};

/// Rows per record batch and row group.
pub const ROWS_PER_GROUP: usize = 8192;

/// A column: its name and whether it may hold nulls.
pub type ColumnSpec = (&'static str, bool);

/// A Parquet file of UTF-8 columns built in memory, row by row.
pub struct StringTable {
    schema: SchemaRef,
    writer: ArrowWriter<Vec<u8>>,
    builders: Vec<StringBuilder>,
    rows: usize,
}

fn parquet_err(e: &dyn std::fmt::Display) -> OutputError {
    encode_err("the Parquet file")(e)
}

impl StringTable {
    /// An empty table with these columns.
    pub fn new(columns: &[ColumnSpec]) -> Result<Self, OutputError> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|&(name, nullable)| Field::new(name, DataType::Utf8, nullable))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROWS_PER_GROUP))
            .set_created_by(format!("synthcti {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
            .map_err(|e| parquet_err(&e))?;
        Ok(Self {
            builders: columns.iter().map(|_| StringBuilder::new()).collect(),
            schema,
            writer,
            rows: 0,
        })
    }

    /// Appends one row, a cell per column (`None`: null). A null in a non-nullable
    /// column, or a row of the wrong width, is an encoding error.
    pub fn push(&mut self, row: &[Option<&str>]) -> Result<(), OutputError> {
        if row.len() != self.builders.len() {
            return Err(parquet_err(&format_args!(
                "a row of {} cells for {} columns",
                row.len(),
                self.builders.len()
            )));
        }
        for (b, cell) in self.builders.iter_mut().zip(row) {
            b.append_option(*cell);
        }
        self.rows += 1;
        if self.rows == ROWS_PER_GROUP {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the rows built so far as one record batch.
    fn flush(&mut self) -> Result<(), OutputError> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| parquet_err(&e))?;
        self.writer.write(&batch).map_err(|e| parquet_err(&e))?;
        self.rows = 0;
        Ok(())
    }

    /// The finished file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, OutputError> {
        self.flush()?;
        self.writer.into_inner().map_err(|e| parquet_err(&e))
    }
}
