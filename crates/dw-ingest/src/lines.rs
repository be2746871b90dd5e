//! Line-by-line reading of large files with a cap on each line.

use std::io::{self, BufRead};

/// One line read from a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadLine {
    /// A line (without its line ending) that fits the limit.
    Line {
        /// 1-based line number.
        number: u64,
        /// The line's bytes.
        bytes: Vec<u8>,
    },
    /// A line longer than the limit; its bytes were skipped, not kept.
    TooLong {
        /// 1-based line number.
        number: u64,
        /// The line's length in bytes.
        len: u64,
    },
}

/// Reads lines of at most `max_line` bytes from a [`BufRead`], skipping
/// blank lines, without ever holding more than `max_line` bytes of one line.
pub struct LineReader<R> {
    inner: R,
    max_line: usize,
    number: u64,
    bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, max_line: usize) -> Self {
        Self { inner, max_line, number: 0, bytes_read: 0 }
    }

    /// Bytes consumed so far (after decompression).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<ReadLine>> {
        loop {
            let mut line = Vec::new();
            let mut len: u64 = 0;
            let mut saw_any = false;
            loop {
                let buf = self.inner.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                saw_any = true;
                let (chunk, done) = match memchr_newline(buf) {
                    Some(i) => (&buf[..i], Some(i + 1)),
                    None => (buf, None),
                };
                len += chunk.len() as u64;
                if len <= self.max_line as u64 + 1 {
                    // +1 keeps room for a trailing '\r' that is trimmed below.
                    line.extend_from_slice(chunk);
                } else if !line.is_empty() {
                    line = Vec::new();
                }
                let consumed = done.unwrap_or(chunk.len());
                self.inner.consume(consumed);
                self.bytes_read += consumed as u64;
                if done.is_some() {
                    break;
                }
            }
            if !saw_any {
                return Ok(None);
            }
            self.number += 1;
            if line.last() == Some(&b'\r') {
                line.pop();
                len = len.saturating_sub(1);
            }
            if len > self.max_line as u64 {
                return Ok(Some(ReadLine::TooLong { number: self.number, len }));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(ReadLine::Line { number: self.number, bytes: line }));
        }
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<ReadLine> {
        // A tiny buffer makes lines cross buffer boundaries.
        let mut reader = LineReader::new(io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(line);
        }
        out
    }

    #[test]
    fn numbers_lines_skips_blanks_and_trims_crlf() {
        let lines = all(b"ab\r\n\n  \ncd\nef", 10);
        assert_eq!(
            lines,
            vec![
                ReadLine::Line { number: 1, bytes: b"ab".to_vec() },
                ReadLine::Line { number: 4, bytes: b"cd".to_vec() },
                ReadLine::Line { number: 5, bytes: b"ef".to_vec() },
            ]
        );
    }

    #[test]
    fn long_lines_are_reported_not_kept() {
        let lines = all(b"12345\n123456789012\nok\n", 5);
        assert_eq!(
            lines,
            vec![
                ReadLine::Line { number: 1, bytes: b"12345".to_vec() },
                ReadLine::TooLong { number: 2, len: 12 },
                ReadLine::Line { number: 3, bytes: b"ok".to_vec() },
            ]
        );
    }
}
