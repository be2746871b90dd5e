//! Sentence vectors of a fixed list of texts, kept in a `.npy` file between
//! runs of the lab's fits and calibrations.

use std::path::Path;

use anyhow::Context;

/// The vectors of `texts`, from the cache when it holds exactly these texts
/// embedded by this model (a `.key` file beside it says which).
pub fn embed_cached(
    encoder: &dw_embed::Encoder,
    texts: &[String],
    cache: Option<&Path>,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let key = format!("{} {} {:016x}\n", encoder.model_id(), encoder.max_tokens(), fnv(texts));
    let key_path = cache.map(|c| c.with_extension("key"));
    if let (Some(cache), Some(key_path)) = (cache, &key_path)
        && std::fs::read_to_string(key_path).ok().as_deref() == Some(key.as_str())
    {
        let bytes = std::fs::read(cache).with_context(|| format!("cannot read {}", cache.display()))?;
        let (rows, dim, values) = dw_embed::npy::read_f32(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        if rows == texts.len() {
            eprintln!("{} vectors from {}", rows, cache.display());
            return Ok(values.chunks(dim).map(<[f32]>::to_vec).collect());
        }
    }
    let started = std::time::Instant::now();
    let bar = crate::progress_bar(texts.len() as u64, "{elapsed_precise} [{bar:30}] {pos}/{len} texts ({per_sec})");
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(1024) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(encoder.embed(&refs)?);
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    eprintln!("embedded {} texts in {:.1} s", texts.len(), started.elapsed().as_secs_f64());
    if let (Some(cache), Some(key_path)) = (cache, key_path) {
        let mut out = std::io::BufWriter::new(std::fs::File::create(cache)?);
        dw_embed::npy::write_f32(&mut out, &vectors, encoder.dim())?;
        drop(out);
        std::fs::write(key_path, key)?;
    }
    Ok(vectors)
}

fn fnv(texts: &[String]) -> u64 {
    texts
        .iter()
        .flat_map(|t| t.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
