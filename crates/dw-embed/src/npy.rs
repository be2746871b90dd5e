//! NumPy `.npy` files (format version 1.0) of float32 rows.

use std::io::Write;

/// Writes `rows` (each of length `dim`) as a C-order `<f4` array of shape
/// `(rows.len(), dim)`.
pub fn write_f32(out: &mut impl Write, rows: &[Vec<f32>], dim: usize) -> std::io::Result<()> {
    if let Some(bad) = rows.iter().position(|r| r.len() != dim) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("row {bad} has {} values, expected {dim}", rows[bad].len()),
        ));
    }
    out.write_all(&header(rows.len(), dim))?;
    let mut buf = Vec::with_capacity(dim * 4);
    for row in rows {
        buf.clear();
        for v in row {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// The magic, version, header length and header dict, padded with spaces so
/// that the data starts at a multiple of 64 bytes, as NumPy writes it.
fn header(rows: usize, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let mut text = dict;
    text.push_str(&" ".repeat(pad));
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Streams rows into a `.npy` file whose row count is known only at the end:
/// the header is reserved at a fixed size and rewritten by [`NpyWriter::finish`].
pub struct NpyWriter<W: Write + std::io::Seek> {
    out: W,
    dim: usize,
    rows: usize,
}

/// Bytes reserved for the magic, version, length and header dict.
const RESERVED: usize = 128;

impl<W: Write + std::io::Seek> NpyWriter<W> {
    /// Starts a file of rows of `dim` values.
    pub fn new(mut out: W, dim: usize) -> std::io::Result<Self> {
        out.write_all(&fixed_header(0, dim))?;
        Ok(Self { out, dim, rows: 0 })
    }

    /// Appends rows.
    pub fn write_rows(&mut self, rows: &[Vec<f32>]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(rows.len() * self.dim * 4);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != self.dim {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("row {i} has {} values, expected {}", row.len(), self.dim),
                ));
            }
            for v in row {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.out.write_all(&buf)?;
        self.rows += rows.len();
        Ok(())
    }

    /// Writes the final header and returns the number of rows.
    pub fn finish(mut self) -> std::io::Result<usize> {
        self.out.seek(std::io::SeekFrom::Start(0))?;
        self.out.write_all(&fixed_header(self.rows, self.dim))?;
        self.out.flush()?;
        Ok(self.rows)
    }
}

fn fixed_header(rows: usize, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    let mut text = dict;
    text.push_str(&" ".repeat(RESERVED.saturating_sub(10 + text.len() + 1)));
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Reads what [`write_f32`] wrote: (rows, dim, values).
pub fn read_f32(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..8] != b"\x93NUMPY\x01\x00" {
        return Err("not a version 1.0 .npy file".into());
    }
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + len).ok_or("truncated header")?).map_err(|e| e.to_string())?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(format!("unsupported array: {header}"));
    }
    let shape = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).ok_or("no shape")?;
    let dims: Vec<usize> =
        shape.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap_or(0)).collect();
    let (rows, dim) = match dims.as_slice() {
        [rows, dim] => (*rows, *dim),
        [rows] => (*rows, 1),
        _ => return Err(format!("unsupported shape ({shape})")),
    };
    let data = &bytes[10 + len..];
    if data.len() != rows * dim * 4 {
        return Err(format!("expected {} bytes of data, found {}", rows * dim * 4, data.len()));
    }
    let values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok((rows, dim, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_an_aligned_header() {
        let rows = vec![vec![1.0, -2.5, 3.25], vec![0.0, f32::MIN_POSITIVE, 7.0]];
        let mut out = Vec::new();
        write_f32(&mut out, &rows, 3).unwrap();
        let header_len = u16::from_le_bytes([out[8], out[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let (n, d, values) = read_f32(&out).unwrap();
        assert_eq!((n, d), (2, 3));
        assert_eq!(values, rows.concat());
        let mut empty = Vec::new();
        write_f32(&mut empty, &[], 384).unwrap();
        assert_eq!(read_f32(&empty).unwrap(), (0, 384, vec![]));
        assert!(write_f32(&mut Vec::new(), &[vec![1.0]], 2).is_err());
    }

    #[test]
    fn the_streaming_writer_rewrites_its_header() {
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut writer = NpyWriter::new(&mut cursor, 2).unwrap();
        writer.write_rows(&[vec![1.0, 2.0]]).unwrap();
        writer.write_rows(&[vec![3.0, 4.0], vec![5.0, 6.0]]).unwrap();
        assert_eq!(writer.finish().unwrap(), 3);
        let bytes = cursor.into_inner();
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10, 128);
        assert_eq!(read_f32(&bytes).unwrap(), (3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }
}
