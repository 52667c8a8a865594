//! Reading Environment documents from files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use plumb_operator::spec::{parse_documents, Environment};

/// Every Environment in `paths`, in order: files as given, directories by file name.
/// Any unreadable or malformed document fails the whole read, so nothing is half-applied.
pub fn read_all(paths: &[PathBuf]) -> anyhow::Result<Vec<(String, Environment)>> {
    let mut out = Vec::new();
    for path in paths {
        for file in expand(path)? {
            let (label, text) = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read stdin")?;
                ("stdin".to_owned(), text)
            } else {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                (file.display().to_string(), text)
            };
            let envs = parse_documents(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{label}: document {}: {}: {}",
                    e.document + 1,
                    e.path,
                    e.message
                )
            })?;
            out.extend(envs.into_iter().map(|env| (label.clone(), env)));
        }
    }
    if out.is_empty() {
        bail!("no environments found in {paths:?}");
    }
    Ok(out)
}

fn expand(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.as_os_str() == "-" || !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read directory {}", path.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    Ok(files)
}
