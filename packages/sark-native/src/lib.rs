//! `sark.native._native`: SARK's in-process Rego engine and decision cache.
//!
//! The Python facade (`sark.native`) re-exports these names and supplies pure-Python
//! twins when this module cannot be imported. Modules:
//! `bundle` (reading a directory like OPA, revisions), `builtins_check` (load-time check
//! for functions regorus lacks), `snapshot` (one compiled revision), `plan` (one rule on
//! the RVM with a VM pool), `engine` (the Python class, atomic swaps), `cache`
//! (dashmap LRU + TTL), `convert` (Python <-> regorus `Value`), `errors`.

pub mod ast_visit;
pub mod builtins_check;
pub mod bundle;
pub mod cache;
pub mod convert;
pub mod engine;
pub mod errors;
pub mod host_walk;
pub mod plan;
pub mod snapshot;

use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use pyo3::prelude::*;

/// Revision of the bundle directory at `path`, exactly as `PolicyEngine.load_bundle` computes it.
#[pyfunction]
fn bundle_revision(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let bundle = py.detach(|| bundle::BundleSource::read(&path))?;
    Ok(bundle.revision)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("REGORUS_VERSION", regorus_version())?;
    m.add_class::<engine::PolicyEngine>()?;
    m.add_class::<cache::Cache>()?;
    m.add_function(wrap_pyfunction!(bundle_revision, m)?)?;
    m.add("NativeError", py.get_type::<errors::NativeError>())?;
    m.add(
        "PolicyCompileError",
        py.get_type::<errors::PolicyCompileError>(),
    )?;
    m.add(
        "PolicyEvaluationError",
        py.get_type::<errors::PolicyEvaluationError>(),
    )?;
    m.add(
        "PolicyTimeoutError",
        py.get_type::<errors::PolicyTimeoutError>(),
    )?;
    m.add(
        "NativeUnavailableError",
        py.get_type::<errors::NativeUnavailableError>(),
    )?;
    Ok(())
}

/// The regorus version this module was built against (from Cargo.lock via build.rs).
fn regorus_version() -> &'static str {
    env!("SARK_REGORUS_VERSION")
}
