//! Error types: one Rust enum for the pure-Rust core (so it is testable without Python)
//! and the Python exception hierarchy it maps onto.
//!
//! The exception classes live here, not in Python, so that the extension raises its own
//! classes (CONVENTIONS: "never a bare RuntimeError") and the facade merely re-exports them.

use std::fmt;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;

create_exception!(
    _native,
    NativeError,
    PyException,
    "Base class of every error raised by sark.native."
);
create_exception!(
    _native,
    PolicyCompileError,
    NativeError,
    "A bundle, module or data document could not be loaded; the previous bundle keeps serving."
);
create_exception!(
    _native,
    PolicyEvaluationError,
    NativeError,
    "Evaluating a rule failed."
);
create_exception!(
    _native,
    PolicyTimeoutError,
    PolicyEvaluationError,
    "Evaluating a rule exceeded the engine's per-evaluation time limit."
);
create_exception!(
    _native,
    NativeUnavailableError,
    NativeError,
    "The native extension is not available in this process."
);

/// Why an engine operation failed; converted to the matching Python exception at the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// Loading or compiling policies or data failed (message carries file:row:col).
    Compile(String),
    /// Evaluation failed for a reason other than the time limit.
    Evaluation(String),
    /// Evaluation ran past the configured time limit.
    Timeout(String),
}

impl EngineError {
    /// Build a compile error from any error, keeping regorus's full message chain.
    pub fn compile(err: impl fmt::Display) -> Self {
        Self::Compile(err.to_string())
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compile(msg) | Self::Evaluation(msg) | Self::Timeout(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<EngineError> for PyErr {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Compile(msg) => PolicyCompileError::new_err(msg),
            EngineError::Evaluation(msg) => PolicyEvaluationError::new_err(msg),
            EngineError::Timeout(msg) => PolicyTimeoutError::new_err(msg),
        }
    }
}
