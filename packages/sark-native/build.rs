//! Records the resolved regorus version so `sark diagnostics --rust` can report it.

use std::fs;

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let version = fs::read_to_string("Cargo.lock")
        .ok()
        .and_then(|lock| regorus_in_lock(&lock))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SARK_REGORUS_VERSION={version}");
}

fn regorus_in_lock(lock: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"regorus\"" {
            let version = lines.next()?;
            return Some(
                version
                    .strip_prefix("version = \"")?
                    .trim_end_matches('"')
                    .to_string(),
            );
        }
    }
    None
}
