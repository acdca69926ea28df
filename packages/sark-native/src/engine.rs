//! `PolicyEngine`: the Python-facing Rego engine.
//!
//! State is one `ArcSwapOption<Snapshot>`. Readers take a lock-free `load_full()` and
//! evaluate on that snapshot with the GIL released; writers build a complete new
//! snapshot off to the side and `store` it. Writers are serialised by a mutex so two
//! concurrent `add_module` calls cannot lose each other's change; readers never touch it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use regorus::Value;

use crate::bundle::{chained_revision, BundleSource};
use crate::convert::{to_python, to_value};
use crate::errors::{EngineError, PolicyEvaluationError};
use crate::plan::Limits;
use crate::snapshot::{Snapshot, Sources};

/// In-process Rego engine (regorus) with atomic bundle reloads.
#[pyclass(module = "sark.native._native", frozen)]
pub struct PolicyEngine {
    current: ArcSwapOption<Snapshot>,
    writer: Mutex<()>,
    limits: Limits,
}

impl PolicyEngine {
    /// Run one writer at a time; called with the GIL released so a writer waiting here
    /// can never block the writer it waits for from re-acquiring the GIL.
    fn write<T>(
        &self,
        change: impl FnOnce(&Self) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let _guard = self
            .writer
            .lock()
            .map_err(|_| EngineError::Compile("a previous load panicked".into()))?;
        change(self)
    }

    /// Build a snapshot from `sources` and publish it; the old one stays on failure.
    fn publish(&self, revision: String, sources: Sources) -> Result<String, EngineError> {
        let snapshot = Snapshot::build(revision.clone(), sources, self.limits)?;
        self.current.store(Some(Arc::new(snapshot)));
        Ok(revision)
    }

    fn sources_now(&self) -> (Option<String>, Sources) {
        match self.current.load_full() {
            Some(s) => (Some(s.revision.clone()), s.sources.clone()),
            None => (None, Sources::default()),
        }
    }

    fn snapshot(&self) -> PyResult<Arc<Snapshot>> {
        self.current.load_full().ok_or_else(|| {
            PolicyEvaluationError::new_err(
                "no policy loaded: call load_bundle() or add_module() first",
            )
        })
    }
}

#[pymethods]
impl PolicyEngine {
    #[new]
    #[pyo3(signature = (timeout_ms = 50, pool_size = None))]
    fn new(timeout_ms: u64, pool_size: Option<usize>) -> PyResult<Self> {
        if timeout_ms == 0 {
            return Err(PyValueError::new_err("timeout_ms must be at least 1"));
        }
        let default_pool = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        let pool_size = pool_size.unwrap_or(default_pool);
        if pool_size == 0 {
            return Err(PyValueError::new_err("pool_size must be at least 1"));
        }
        Ok(Self {
            current: ArcSwapOption::empty(),
            writer: Mutex::new(()),
            limits: Limits {
                timeout: Duration::from_millis(timeout_ms),
                pool_size,
            },
        })
    }

    /// Load a bundle directory as OPA does, replacing everything; returns its revision.
    fn load_bundle(&self, py: Python<'_>, path: PathBuf) -> PyResult<String> {
        let revision = py.detach(|| {
            self.write(|engine| {
                let bundle = BundleSource::read(&path)?;
                let sources = Sources {
                    modules: bundle.modules()?.into_iter().collect(),
                    data: bundle.data_documents()?,
                };
                engine.publish(bundle.revision, sources)
            })
        })?;
        Ok(revision)
    }

    /// Add (or replace) one Rego module, keeping everything else.
    fn add_module(&self, py: Python<'_>, name: String, source: String) -> PyResult<()> {
        py.detach(|| {
            self.write(|engine| {
                let (previous, mut sources) = engine.sources_now();
                let revision = chained_revision(
                    previous.as_deref(),
                    "module",
                    &[name.as_bytes(), source.as_bytes()],
                );
                sources.modules.insert(name, source);
                engine.publish(revision, sources)
            })
        })?;
        Ok(())
    }

    /// Deep-merge a data document into the current data (conflicts are errors).
    fn add_data(&self, py: Python<'_>, obj: &Bound<'_, PyDict>) -> PyResult<()> {
        let document = to_value(obj.as_any())?;
        let canonical = document
            .to_json_str()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.detach(|| {
            self.write(|engine| {
                let (previous, mut sources) = engine.sources_now();
                let revision =
                    chained_revision(previous.as_deref(), "data", &[canonical.as_bytes()]);
                sources.data.push(("add_data()".to_string(), document));
                engine.publish(revision, sources)
            })
        })?;
        Ok(())
    }

    /// Revision of the bundle serving now, or None before the first load.
    #[getter]
    fn revision(&self) -> Option<String> {
        self.current.load().as_ref().map(|s| s.revision.clone())
    }

    /// Rego package names loaded, sorted (e.g. `mcp.authz`).
    fn packages(&self) -> Vec<String> {
        self.current
            .load()
            .as_ref()
            .map(|s| s.packages().to_vec())
            .unwrap_or_default()
    }

    /// Evaluate a rule path such as `data.mcp.authz.decision`; undefined gives None.
    #[pyo3(signature = (rule_path, input))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        rule_path: &str,
        input: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = to_value(input)?;
        let snapshot = self.snapshot()?;
        let result: Value = py.detach(|| snapshot.evaluate(rule_path, input))?;
        to_python(py, &result)
    }

    /// `"compiled"` when `rule_path` runs on the RVM, `"interpreted"` on the fallback.
    fn execution_mode(&self, py: Python<'_>, rule_path: &str) -> PyResult<&'static str> {
        let snapshot = self.snapshot()?;
        let mode = py.detach(|| snapshot.mode(rule_path))?;
        Ok(mode.as_str())
    }

    /// Per-evaluation time limit in milliseconds.
    #[getter]
    fn timeout_ms(&self) -> u64 {
        u64::try_from(self.limits.timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// Idle VMs kept per rule path.
    #[getter]
    fn pool_size(&self) -> usize {
        self.limits.pool_size
    }

    fn __repr__(&self) -> String {
        let revision = self
            .revision()
            .map_or_else(|| "None".to_string(), |r| format!("'{r}'"));
        format!(
            "PolicyEngine(revision={revision}, timeout_ms={}, pool_size={})",
            self.timeout_ms(),
            self.limits.pool_size
        )
    }
}
