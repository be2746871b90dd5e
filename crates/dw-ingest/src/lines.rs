//! Line-by-line reading of large files with a cap on each line.

use std::io::{self, BufRead};

/// One line read from a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadLine<'a> {
    /// A line (without its line ending) that fits the limit.
    Line {
        /// 1-based line number.
        number: u64,
        /// The line's bytes, in the reader's buffer until the next line is read.
        bytes: &'a [u8],
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
/// One buffer serves every line: a line is lent until the next is read, not
/// allocated and freed per line.
pub struct LineReader<R> {
    inner: R,
    max_line: usize,
    number: u64,
    bytes_read: u64,
    line: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, max_line: usize) -> Self {
        Self { inner, max_line, number: 0, bytes_read: 0, line: Vec::new() }
    }

    /// Bytes consumed so far (after decompression).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<ReadLine<'_>>> {
        loop {
            let line = &mut self.line;
            line.clear();
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
                } else {
                    line.clear();
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
            return Ok(Some(ReadLine::Line { number: self.number, bytes: &self.line }));
        }
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line as (number, its bytes or `None` when too long, its length).
    fn all(input: &[u8], max: usize) -> Vec<(u64, Option<Vec<u8>>, u64)> {
        // A tiny buffer makes lines cross buffer boundaries.
        let mut reader = LineReader::new(io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            out.push(match line {
                ReadLine::Line { number, bytes } => (number, Some(bytes.to_vec()), bytes.len() as u64),
                ReadLine::TooLong { number, len } => (number, None, len),
            });
        }
        out
    }

    #[test]
    fn numbers_lines_skips_blanks_and_trims_crlf() {
        let lines = all(b"ab\r\n\n  \ncd\nef", 10);
        assert_eq!(
            lines,
            vec![(1, Some(b"ab".to_vec()), 2), (4, Some(b"cd".to_vec()), 2), (5, Some(b"ef".to_vec()), 2)]
        );
    }

    #[test]
    fn a_short_line_after_a_long_one_is_only_itself() {
        let lines = all(b"abcdefgh\nxy\n123456789012\nz\n", 10);
        assert_eq!(
            lines,
            vec![
                (1, Some(b"abcdefgh".to_vec()), 8),
                (2, Some(b"xy".to_vec()), 2),
                (3, None, 12),
                (4, Some(b"z".to_vec()), 1)
            ]
        );
    }

    #[test]
    fn long_lines_are_reported_not_kept() {
        let lines = all(b"12345\n123456789012\nok\n", 5);
        assert_eq!(lines, vec![(1, Some(b"12345".to_vec()), 5), (2, None, 12), (3, Some(b"ok".to_vec()), 2)]);
    }
}
