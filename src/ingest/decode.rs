//! Decoding a text export (CSV, JSON, JSON Lines) to UTF-8: a source's
//! `encoding` (or `csv.encoding`) and byte-order marks.

use std::io::{BufRead, Read};

use crate::ingest::sink::FileError;

/// The file as UTF-8. UTF-8 passes through untouched (each field is checked
/// on its own later); an `encoding` or a byte-order mark (UTF-16, or
/// UTF-8's own, which would otherwise stick to the first column's name or
/// make a JSON document invalid) decodes through encoding_rs.
pub(super) enum Decoded<R: Read> {
    Utf8(R),
    Decoding(encoding_rs_io::DecodeReaderBytes<R, Vec<u8>>),
}

impl<R: BufRead> Decoded<R> {
    /// `label` is the source's encoding, if it names one.
    pub(super) fn new(mut input: R, label: Option<&str>) -> Result<Decoded<R>, FileError> {
        let encoding = match label {
            Some(label) => Some(
                encoding_rs::Encoding::for_label(label.as_bytes()).ok_or_else(|| {
                    FileError::new(format!("encoding: unknown encoding {label:?}"))
                })?,
            ),
            None => None,
        };
        let head = input
            .fill_buf()
            .map_err(|e| FileError::new(format!("cannot read: {e}")))?;
        let bom = [&[0xEF, 0xBB, 0xBF][..], &[0xFF, 0xFE], &[0xFE, 0xFF]]
            .iter()
            .any(|mark| head.starts_with(mark));
        if encoding.is_none() && !bom {
            return Ok(Decoded::Utf8(input));
        }
        // A byte-order mark wins over the encoding: it cannot be text of
        // a single-byte encoding's file (it would decode as "ï»¿" glued to
        // the first column's name), while an export re-saved as UTF-8 often
        // keeps the config written for it before.
        let decoder = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(encoding)
            .bom_override(true)
            .build(input);
        Ok(Decoded::Decoding(decoder))
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Decoded::Utf8(r) => r.read(buf),
            Decoded::Decoding(r) => r.read(buf),
        }
    }
}
