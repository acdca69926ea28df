//! Reading a bundle directory the way OPA's loader does, and its content revision.
//!
//! `opa run --server opa/` and `opa test opa/` load every `*.rego` file (tests aside) and
//! mount every `*.json` file at its directory path relative to the root, so
//! `opa/data/mcp/authz/data.json` becomes `data.data.mcp.authz`. The native engine must
//! see exactly the same documents or the two engines would disagree on decisions.
//!
//! The revision is computed over the same file set so that "same revision" means "same
//! inputs to the compiler". `_fallback.bundle_revision` implements the identical algorithm.

use std::fs;
use std::path::Path;

use regorus::Value;
use sha2::{Digest, Sha256};

use crate::errors::EngineError;

/// Number of hex characters kept from the sha256 digest.
const REVISION_HEX_LEN: usize = 16;

/// What a bundle file contributes to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A Rego module (`*.rego`, not `*_test.rego`).
    Rego,
    /// A JSON data document (`*.json`).
    Json,
}

/// One file of a bundle, read into memory.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// POSIX path relative to the bundle root, e.g. `data/mcp/authz/data.json`.
    pub relpath: String,
    /// Whether this is policy or data.
    pub kind: FileKind,
    /// Raw content; the revision hashes bytes, not decoded text.
    pub content: Vec<u8>,
}

/// A bundle directory read from disk: its files in revision order and its revision.
#[derive(Debug, Clone)]
pub struct BundleSource {
    /// Files sorted by `relpath` (byte order, which is code-point order for UTF-8).
    pub files: Vec<BundleFile>,
    /// First 16 hex chars of the content digest.
    pub revision: String,
}

impl BundleSource {
    /// Read every bundle file under `root`.
    pub fn read(root: &Path) -> Result<Self, EngineError> {
        if !root.is_dir() {
            return Err(EngineError::Compile(format!(
                "bundle path {} is not a directory",
                root.display()
            )));
        }
        let mut files = Vec::new();
        walk(root, "", &mut files)?;
        files.sort_by(|a, b| a.relpath.cmp(&b.relpath));
        let revision = revision_of(&files);
        Ok(Self { files, revision })
    }

    /// Rego modules as `(relpath, source)`, in path order.
    pub fn modules(&self) -> Result<Vec<(String, String)>, EngineError> {
        self.files
            .iter()
            .filter(|f| f.kind == FileKind::Rego)
            .map(|f| {
                let text = String::from_utf8(f.content.clone()).map_err(|_| {
                    EngineError::Compile(format!("{}: policy file is not valid UTF-8", f.relpath))
                })?;
                Ok((f.relpath.clone(), text))
            })
            .collect()
    }

    /// Data documents, each already wrapped so that it merges at its directory path.
    pub fn data_documents(&self) -> Result<Vec<(String, Value)>, EngineError> {
        self.files
            .iter()
            .filter(|f| f.kind == FileKind::Json)
            .map(|f| Ok((f.relpath.clone(), mounted_document(f)?)))
            .collect()
    }
}

/// Classify a file name, or `None` when the loader ignores it.
pub fn classify(name: &str) -> Option<FileKind> {
    if name.starts_with('.') || name.ends_with("_test.rego") {
        None
    } else if name.ends_with(".rego") {
        Some(FileKind::Rego)
    } else if name.ends_with(".json") {
        Some(FileKind::Json)
    } else {
        None
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<BundleFile>) -> Result<(), EngineError> {
    let entries = fs::read_dir(dir)
        .map_err(|e| EngineError::Compile(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| EngineError::Compile(format!("cannot read {}: {e}", dir.display())))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(EngineError::Compile(format!(
                "{}: file name is not valid UTF-8",
                entry.path().display()
            )));
        };
        if name.starts_with('.') {
            continue;
        }
        let relpath = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        if path.is_dir() {
            walk(&path, &relpath, out)?;
        } else if let Some(kind) = classify(name) {
            let content = fs::read(&path)
                .map_err(|e| EngineError::Compile(format!("cannot read {relpath}: {e}")))?;
            out.push(BundleFile {
                relpath,
                kind,
                content,
            });
        }
    }
    Ok(())
}

/// sha256 over `relpath \0 content \0` of each file in order, truncated.
pub fn revision_of(files: &[BundleFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.relpath.as_bytes());
        hasher.update([0u8]);
        hasher.update(&file.content);
        hasher.update([0u8]);
    }
    truncated_hex(&hasher.finalize())
}

/// Revision after an incremental change: sha256 over `previous \0 kind \0 parts...`.
///
/// Chaining on the previous revision keeps revisions content-addressed (the same
/// sequence of changes on the same bundle yields the same revision on every replica).
pub fn chained_revision(previous: Option<&str>, kind: &str, parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.unwrap_or("").as_bytes());
    hasher.update([0u8]);
    hasher.update(kind.as_bytes());
    hasher.update([0u8]);
    for part in parts {
        hasher.update(part);
        hasher.update([0u8]);
    }
    truncated_hex(&hasher.finalize())
}

fn truncated_hex(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(REVISION_HEX_LEN);
    for byte in digest.iter().take(REVISION_HEX_LEN / 2) {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Parse a JSON file and nest it under its directory components.
fn mounted_document(file: &BundleFile) -> Result<Value, EngineError> {
    let text = std::str::from_utf8(&file.content)
        .map_err(|_| EngineError::Compile(format!("{}: not valid UTF-8", file.relpath)))?;
    let mut value = Value::from_json_str(text)
        .map_err(|e| EngineError::Compile(format!("{}: invalid JSON: {e}", file.relpath)))?;
    let mut dirs: Vec<&str> = file.relpath.split('/').collect();
    dirs.pop();
    if dirs.is_empty() && value.as_object().is_err() {
        return Err(EngineError::Compile(format!(
            "{}: a data file at the bundle root must hold a JSON object",
            file.relpath
        )));
    }
    for dir in dirs.into_iter().rev() {
        let mut wrapper = Value::new_object();
        wrapper
            .as_object_mut()
            .map_err(EngineError::compile)?
            .insert(Value::from(dir), value);
        value = wrapper;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, content: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    #[test]
    fn reads_rego_and_json_but_skips_tests_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "policies/a.rego", "package a\n");
        write(dir.path(), "policies/a_test.rego", "package a_test\n");
        write(dir.path(), "data/x/data.json", "{}");
        write(dir.path(), ".hidden/b.rego", "package b\n");
        write(dir.path(), "policies/.c.rego", "package c\n");
        write(dir.path(), "README.md", "# no");
        let bundle = BundleSource::read(dir.path()).unwrap();
        let paths: Vec<_> = bundle.files.iter().map(|f| f.relpath.as_str()).collect();
        assert_eq!(paths, ["data/x/data.json", "policies/a.rego"]);
    }

    #[test]
    fn revision_matches_the_documented_formula() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.rego", "package b\n");
        write(dir.path(), "a/data.json", "{\"k\": 1}");
        let bundle = BundleSource::read(dir.path()).unwrap();
        let mut hasher = Sha256::new();
        hasher.update(b"a/data.json\0{\"k\": 1}\0b.rego\0package b\n\0");
        let expected = truncated_hex(&hasher.finalize());
        assert_eq!(bundle.revision, expected);
        assert_eq!(bundle.revision.len(), 16);
    }

    #[test]
    fn revision_changes_with_content_and_ignores_skipped_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "p.rego", "package p\n");
        let first = BundleSource::read(dir.path()).unwrap().revision;
        write(dir.path(), "p_test.rego", "package p_test\n");
        assert_eq!(BundleSource::read(dir.path()).unwrap().revision, first);
        write(dir.path(), "p.rego", "package p\nx := 1\n");
        assert_ne!(BundleSource::read(dir.path()).unwrap().revision, first);
    }

    #[test]
    fn json_is_mounted_at_its_directory_path() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "data/mcp/authz/data.json",
            r#"{"roles": ["admin"]}"#,
        );
        write(dir.path(), "top.json", r#"{"t": true}"#);
        let docs = BundleSource::read(dir.path())
            .unwrap()
            .data_documents()
            .unwrap();
        let expected =
            Value::from_json_str(r#"{"data": {"mcp": {"authz": {"roles": ["admin"]}}}}"#).unwrap();
        assert_eq!(docs[0].1, expected);
        assert_eq!(docs[1].1, Value::from_json_str(r#"{"t": true}"#).unwrap());
    }

    #[test]
    fn root_json_that_is_not_an_object_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "list.json", "[1]");
        let err = BundleSource::read(dir.path())
            .unwrap()
            .data_documents()
            .unwrap_err();
        assert!(err.to_string().contains("list.json"), "{err}");
    }

    #[test]
    fn invalid_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d/bad.json", "{");
        let err = BundleSource::read(dir.path())
            .unwrap()
            .data_documents()
            .unwrap_err();
        assert!(err.to_string().contains("d/bad.json"), "{err}");
    }

    #[test]
    fn chained_revision_depends_on_previous_and_content() {
        let a = chained_revision(Some("aaaa"), "module", &[b"m.rego", b"package m"]);
        let b = chained_revision(Some("bbbb"), "module", &[b"m.rego", b"package m"]);
        let c = chained_revision(Some("aaaa"), "module", &[b"m.rego", b"package n"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 16);
    }
}
