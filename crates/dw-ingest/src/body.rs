//! Content decoding with a hard cap on the decoded size.

use std::io::Read;

/// How a request body is encoded (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// Not encoded.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `zstd` (RFC 8878).
    Zstd,
}

impl ContentEncoding {
    /// Reads a `Content-Encoding` header value; `None` for encodings we do not
    /// decode.
    pub fn from_header(value: Option<&str>) -> Option<Self> {
        match value.map(|v| v.trim().to_ascii_lowercase()) {
            None => Some(Self::Identity),
            Some(v) if v.is_empty() || v == "identity" => Some(Self::Identity),
            Some(v) if v == "gzip" || v == "x-gzip" => Some(Self::Gzip),
            Some(v) if v == "zstd" => Some(Self::Zstd),
            Some(_) => None,
        }
    }

    /// Guesses a file's encoding from its name.
    pub fn from_file_name(name: &str) -> Self {
        if name.ends_with(".gz") {
            Self::Gzip
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Self::Zstd
        } else {
            Self::Identity
        }
    }
}

/// A body that could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The (decoded) body is larger than allowed.
    #[error("body is larger than the limit of {limit} bytes (after decompression)")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The compressed stream is damaged or not what the header said.
    #[error("body is not valid {encoding}: {reason}")]
    Corrupt {
        /// `gzip` or `zstd`.
        encoding: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

/// Decodes `body`, refusing to produce more than `limit` bytes.
pub fn decode_body(
    body: &[u8],
    encoding: ContentEncoding,
    limit: usize,
) -> Result<std::borrow::Cow<'_, [u8]>, BodyError> {
    match encoding {
        ContentEncoding::Identity => {
            if body.len() > limit {
                Err(BodyError::TooLarge { limit })
            } else {
                Ok(std::borrow::Cow::Borrowed(body))
            }
        }
        ContentEncoding::Gzip => read_capped(flate2::read::MultiGzDecoder::new(body), limit, "gzip").map(Into::into),
        ContentEncoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(body)
                .map_err(|e| BodyError::Corrupt { encoding: "zstd", reason: e.to_string() })?;
            read_capped(decoder, limit, "zstd").map(Into::into)
        }
    }
}

/// Reads at most `limit` bytes; one byte more means the body is too large.
fn read_capped(reader: impl Read, limit: usize, encoding: &'static str) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out).map_err(|e| BodyError::Corrupt { encoding, reason: e.to_string() })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_and_zstd_round_trip() {
        let data = b"{\"a\":1}\n".repeat(100);
        assert_eq!(decode_body(&gzip(&data), ContentEncoding::Gzip, 1 << 20).unwrap().as_ref(), &data[..]);
        let z = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(decode_body(&z, ContentEncoding::Zstd, 1 << 20).unwrap().as_ref(), &data[..]);
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(decode_body(&bomb, ContentEncoding::Gzip, 1 << 20), Err(BodyError::TooLarge { limit: 1 << 20 }));
        let zbomb = zstd::encode_all(&vec![0u8; 64 << 20][..], 3).unwrap();
        assert_eq!(decode_body(&zbomb, ContentEncoding::Zstd, 1 << 20), Err(BodyError::TooLarge { limit: 1 << 20 }));
    }

    #[test]
    fn exactly_the_limit_is_allowed() {
        let data = vec![b'x'; 1000];
        assert!(decode_body(&gzip(&data), ContentEncoding::Gzip, 1000).is_ok());
        assert!(decode_body(&data, ContentEncoding::Identity, 1000).is_ok());
        assert!(decode_body(&data, ContentEncoding::Identity, 999).is_err());
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        assert!(matches!(
            decode_body(b"not gzip at all", ContentEncoding::Gzip, 1000),
            Err(BodyError::Corrupt { encoding: "gzip", .. })
        ));
        assert!(matches!(
            decode_body(b"not zstd at all", ContentEncoding::Zstd, 1000),
            Err(BodyError::Corrupt { encoding: "zstd", .. })
        ));
    }

    #[test]
    fn encodings_are_read_from_headers_and_names() {
        assert_eq!(ContentEncoding::from_header(None), Some(ContentEncoding::Identity));
        assert_eq!(ContentEncoding::from_header(Some("GZIP")), Some(ContentEncoding::Gzip));
        assert_eq!(ContentEncoding::from_header(Some("zstd")), Some(ContentEncoding::Zstd));
        assert_eq!(ContentEncoding::from_header(Some("br")), None);
        assert_eq!(ContentEncoding::from_file_name("a.jsonl.gz"), ContentEncoding::Gzip);
        assert_eq!(ContentEncoding::from_file_name("a.jsonl"), ContentEncoding::Identity);
    }
}
