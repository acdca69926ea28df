//! One rule path of one bundle revision, ready to evaluate from many threads at once.
//!
//! The hot path runs regorus's compiled form: the rule is compiled once to an RVM
//! program (`Arc<Program>`, shared and immutable) and each evaluation borrows a
//! `RegoVM` from a lock-free pool (`ArrayQueue`). A VM holds per-run registers, so it
//! cannot be shared; pooling avoids rebuilding it (and re-checking the data document)
//! on every call, and there is no lock any two evaluations contend on.
//!
//! When the RVM compiler cannot handle a rule, or the VM reports it cannot run an
//! instruction, the plan uses regorus's tree-walking interpreter instead, with a pool of
//! prepared `Engine` clones. Both paths enforce the same per-evaluation time limit.
//!
//! A program that calls `walk` (rewritten, see `host_walk`) first runs to completion with
//! the walk answers preloaded for the values it asked for before; when it asks for
//! another one it stops with a fatal error and runs again suspendable, answering each
//! call as it comes (and the plan remembers which input field it asked for).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::{DeserializationResult, Program};
use regorus::rvm::vm::{ExecutionMode, ExecutionState, RegoVM, SuspendReason, VmError};
use regorus::rvm::Instruction;
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, LimitError, Value};

use crate::errors::EngineError;
use crate::host_walk;

/// Preloaded copies of each walk answer: a run-to-completion VM consumes one per call,
/// so a rule that walks the same value more often than this re-runs suspendable.
const PRELOADED_COPIES: usize = 8;

/// Work units (VM instructions, interpreter steps) between two clock reads: frequent
/// enough to stop within a fraction of a millisecond, rare enough to cost nothing.
const TIMER_CHECK_INTERVAL: u32 = 64;

/// Settings every plan of an engine shares.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock budget of one evaluation.
    pub timeout: Duration,
    /// Idle VMs (or engines) kept per rule path; more are created under load and dropped.
    pub pool_size: usize,
}

impl Limits {
    fn timer(&self) -> ExecutionTimerConfig {
        ExecutionTimerConfig {
            limit: self.timeout,
            check_interval: NonZeroU32::new(TIMER_CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// How a plan executes its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// RVM program (the fast path).
    Compiled,
    /// Tree-walking interpreter (fallback).
    Interpreted,
}

impl Mode {
    /// Name shown to Python.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compiled => "compiled",
            Self::Interpreted => "interpreted",
        }
    }
}

/// A rule path compiled against one bundle snapshot.
pub struct Plan {
    rule: String,
    data: Value,
    limits: Limits,
    compiled: Option<Compiled>,
    /// Why the RVM compiler refused the rule, when it did.
    fallback_reason: Option<String>,
    interpreter: Interpreter,
}

struct Compiled {
    program: Arc<Program>,
    /// The program calls the `walk` helper (see `host_walk`): answers are preloaded.
    awaits_host: bool,
    /// What of the input the program has walked (`None`: the input itself, else a
    /// top-level field): their walks are preloaded.
    walked: ArcSwap<Vec<Option<Value>>>,
    /// Runs that had to be repeated suspendable (a walk answer was not preloaded).
    suspended_runs: AtomicU64,
    idle: ArrayQueue<RegoVM>,
    /// Set once the VM has reported a limitation; later calls go straight to the interpreter.
    degraded: AtomicBool,
}

struct Interpreter {
    template: Mutex<Engine>,
    idle: ArrayQueue<Engine>,
}

impl Plan {
    /// Compile `rule` from prepared engines holding the bundle's modules and data:
    /// `engine` as written (interpreter), `rvm_engine` with `walk` rewritten (compiler).
    pub fn new(
        engine: &Engine,
        rvm_engine: &Engine,
        rule: &str,
        limits: Limits,
    ) -> Result<Self, EngineError> {
        let mut scratch = rvm_engine.clone();
        let policy = scratch
            .compile_with_entrypoint(&rule.into())
            .map_err(|e| EngineError::Evaluation(format!("cannot evaluate {rule}: {e:#}")))?;
        let program = Compiler::compile_from_policy(&policy, &[rule]);
        let (compiled, fallback_reason) = match program {
            Ok(program) if looks_up_virtual_documents(&program) => (
                None,
                Some(format!(
                    "{rule} reads a package as a whole (a virtual document lookup), which \
                     the regorus 0.14 RVM can answer wrongly (docs/adr/0004)"
                )),
            ),
            Ok(program) => (
                Some(Compiled {
                    awaits_host: program
                        .instructions
                        .iter()
                        .any(|i| matches!(i, Instruction::HostAwait { .. })),
                    program,
                    walked: ArcSwap::from_pointee(Vec::new()),
                    suspended_runs: AtomicU64::new(0),
                    idle: ArrayQueue::new(limits.pool_size.max(1)),
                    degraded: AtomicBool::new(false),
                }),
                None,
            ),
            Err(err) => (None, Some(format!("{err:#}"))),
        };
        Ok(Self {
            rule: rule.to_string(),
            data: engine.get_data(),
            limits,
            compiled,
            fallback_reason,
            interpreter: Interpreter {
                template: Mutex::new(engine.clone()),
                idle: ArrayQueue::new(limits.pool_size.max(1)),
            },
        })
    }

    /// Which executor serves this rule now.
    pub fn mode(&self) -> Mode {
        match &self.compiled {
            Some(c) if !c.degraded.load(Ordering::Relaxed) => Mode::Compiled,
            _ => Mode::Interpreted,
        }
    }

    /// Why this rule is not compiled, if it is not.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Evaluate the rule for `input`; `Value::Undefined` when the rule is undefined.
    pub fn evaluate(&self, input: Value) -> Result<Value, EngineError> {
        if let Some(compiled) = &self.compiled {
            if !compiled.degraded.load(Ordering::Relaxed) {
                match self.run_vm(compiled, input.clone()) {
                    Ok(value) => return Ok(value),
                    Err(err) if is_vm_limitation(&err) => {
                        compiled.degraded.store(true, Ordering::Relaxed);
                    }
                    Err(err) => return Err(vm_error(&self.rule, err)),
                }
            }
        }
        self.run_interpreter(input)
    }

    /// Evaluate on the interpreter regardless of mode (to check the two agree).
    #[cfg(test)]
    pub fn evaluate_interpreted(&self, input: Value) -> Result<Value, EngineError> {
        self.run_interpreter(input)
    }

    /// Evaluations that ran twice because a walk answer was not preloaded.
    #[cfg(test)]
    pub fn suspended_runs(&self) -> u64 {
        self.compiled
            .as_ref()
            .map_or(0, |c| c.suspended_runs.load(Ordering::Relaxed))
    }

    fn run_vm(&self, compiled: &Compiled, input: Value) -> Result<Value, VmError> {
        if !compiled.awaits_host {
            return self.run_pooled(compiled, input, |_| Ok(()));
        }
        let preloaded = self.run_pooled(compiled, input.clone(), |vm| {
            vm.set_execution_mode(ExecutionMode::RunToCompletion);
            vm.set_host_await_responses(preloaded_walks(compiled, &input));
            Ok(())
        });
        match preloaded {
            Err(VmError::RegexSizeLimitExceeded { .. }) => {}
            other => return other,
        }
        // Either the helper's `abort` (a walk answer was missing) or a policy regex over
        // the limit, which the suspendable run reports again.
        compiled.suspended_runs.fetch_add(1, Ordering::Relaxed);
        let mut vm = self.new_vm(compiled)?;
        vm.set_execution_mode(ExecutionMode::Suspendable);
        vm.set_input(input.clone());
        let result = vm
            .execute_entry_point_by_index(0)
            .and_then(|value| answer_host_calls(&mut vm, value, compiled, &input));
        if result.is_ok() {
            vm.set_input(Value::Null);
            let _ = compiled.idle.push(vm);
        }
        result
    }

    /// One run-to-completion evaluation on a pooled VM, set up by `prepare`.
    fn run_pooled(
        &self,
        compiled: &Compiled,
        input: Value,
        prepare: impl FnOnce(&mut RegoVM) -> Result<(), VmError>,
    ) -> Result<Value, VmError> {
        let mut vm = match compiled.idle.pop() {
            Some(vm) => vm,
            None => self.new_vm(compiled)?,
        };
        vm.set_input(input);
        prepare(&mut vm)?;
        let result = vm.execute_entry_point_by_index(0);
        if result.is_ok() {
            // Drop the input now rather than when the VM is next used, and the walk
            // answers not consumed (they hold parts of it, secrets included).
            vm.set_input(Value::Null);
            vm.set_host_await_responses(std::iter::empty::<(Value, Vec<Value>)>());
            // A full pool means more VMs exist than threads need: let this one go.
            let _ = compiled.idle.push(vm);
        }
        result
    }

    fn new_vm(&self, compiled: &Compiled) -> Result<RegoVM, VmError> {
        let mut vm = RegoVM::new();
        vm.load_program(private_program(&compiled.program));
        vm.set_data(private_value(&self.data))?;
        vm.set_execution_timer_config(Some(self.limits.timer()));
        // The time limit is the budget; the default instruction cap (25k) would cut
        // legitimate policies short with a less useful error.
        vm.set_max_instructions(usize::MAX);
        vm.set_strict_builtin_errors(false);
        Ok(vm)
    }

    fn run_interpreter(&self, input: Value) -> Result<Value, EngineError> {
        let pool = &self.interpreter;
        let mut engine = match pool.idle.pop() {
            Some(engine) => engine,
            None => pool
                .template
                .lock()
                .map_err(|_| EngineError::Evaluation("engine template poisoned".into()))?
                .clone(),
        };
        engine.set_input(input);
        match engine.eval_rule(self.rule.clone()) {
            Ok(value) => {
                engine.set_input(Value::Null);
                let _ = pool.idle.push(engine);
                Ok(value)
            }
            Err(err) => Err(interpreter_error(&self.rule, &err)),
        }
    }
}

/// A deep copy of `program` for one VM.
///
/// Values are reference-counted: VMs sharing one program (and its literals) or one data
/// document bump the same counters from every core, and that cache-line traffic cost
/// more than the evaluation itself once two threads ran (see docs/performance.md).
/// A round trip through regorus's binary program format gives each VM its own copy.
fn private_program(program: &Arc<Program>) -> Arc<Program> {
    program
        .serialize_binary()
        .and_then(|bytes| Program::deserialize_binary(&bytes))
        .ok()
        .and_then(|result| match result {
            DeserializationResult::Complete(copy) => Some(Arc::new(copy)),
            DeserializationResult::Partial(_) => None,
        })
        .unwrap_or_else(|| program.clone())
}

/// A deep copy of a data document (JSON-shaped by construction) for one VM.
fn private_value(value: &Value) -> Value {
    value
        .to_json_str()
        .and_then(|json| Value::from_json_str(&json))
        .unwrap_or_else(|_| value.clone())
}

/// Walk answers for a run-to-completion VM: the empty object (a policy's usual default)
/// and every part of the input walked before, each keyed by the walked value.
fn preloaded_walks(compiled: &Compiled, input: &Value) -> Vec<(Value, Vec<Value>)> {
    let empty = Value::new_object();
    let mut answers = vec![(
        empty.clone(),
        vec![host_walk::answer(&empty); PRELOADED_COPIES],
    )];
    for part in compiled.walked.load().iter() {
        let target = part.as_ref().map_or(input, |field| &input[field]);
        if matches!(target, Value::Object(_) | Value::Array(_) | Value::Set(_)) {
            answers.push((
                target.clone(),
                vec![host_walk::answer(target); PRELOADED_COPIES],
            ));
        }
    }
    answers
}

/// Resume a suspended VM with walk answers until it completes, remembering which part
/// of the input each walked value was.
fn answer_host_calls(
    vm: &mut RegoVM,
    mut value: Value,
    compiled: &Compiled,
    input: &Value,
) -> Result<Value, VmError> {
    loop {
        let ExecutionState::Suspended { reason, .. } = vm.execution_state() else {
            return Ok(value);
        };
        let SuspendReason::HostAwait { argument, .. } = reason else {
            let message = format!("unexpected suspension: {reason:?}");
            return Err(VmError::Internal { message, pc: 0 });
        };
        remember_walked(compiled, input, argument);
        let answer = host_walk::answer(argument);
        value = vm.resume(Some(answer))?;
    }
}

/// Note `walked` for preloading when it is the input or one of its top-level fields.
fn remember_walked(compiled: &Compiled, input: &Value, walked: &Value) {
    let part = if walked == input {
        None
    } else {
        let Value::Object(fields) = input else {
            return;
        };
        let Some((key, _)) = fields.iter().find(|(_, field)| *field == walked) else {
            return;
        };
        Some(key.clone())
    };
    if compiled.walked.load().contains(&part) {
        return;
    }
    compiled.walked.rcu(|known| {
        let mut next = Vec::clone(known);
        if !next.contains(&part) {
            next.push(part.clone());
        }
        next
    });
}

/// Whether `program` reads rules through a prefix of their path (`data.pkg` as a whole,
/// or `alias.rule` where the import alias names another package).
///
/// regorus 0.14 compiles such a reference into a `VirtualDataDocumentLookup` that
/// evaluates every rule under the prefix and, on SARK's own `mcp.authz`, returned `[]`
/// where OPA and the interpreter return the rule's value: a silently wrong decision.
/// Those rules run on the interpreter instead (correct, slower).
fn looks_up_virtual_documents(program: &Program) -> bool {
    program
        .instructions
        .iter()
        .any(|i| matches!(i, Instruction::VirtualDataDocumentLookup { .. }))
}

/// Errors that mean "the VM cannot run this", not "the policy failed".
fn is_vm_limitation(err: &VmError) -> bool {
    matches!(
        err,
        VmError::UnhandledInstruction { .. }
            | VmError::BuiltinNotResolved { .. }
            | VmError::Internal { .. }
            | VmError::UnsupportedSuspendInRunToCompletion { .. }
    )
}

fn vm_error(rule: &str, err: VmError) -> EngineError {
    match err {
        VmError::TimeLimitExceeded { .. } => {
            EngineError::Timeout(format!("evaluating {rule}: {err}"))
        }
        other => EngineError::Evaluation(format!("evaluating {rule}: {other}")),
    }
}

fn interpreter_error(rule: &str, err: &anyhow::Error) -> EngineError {
    let timed_out = err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<LimitError>(),
            Some(LimitError::TimeLimitExceeded { .. })
        )
    });
    if timed_out {
        EngineError::Timeout(format!("evaluating {rule}: {err:#}"))
    } else {
        EngineError::Evaluation(format!("evaluating {rule}: {err:#}"))
    }
}

/// Create a regorus engine configured the way every SARK engine must be.
pub fn new_engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_rego_v0(false);
    // OPA's default: a builtin error makes the expression undefined, not the query fail.
    engine.set_strict_builtin_errors(false);
    engine.set_execution_timer_config(limits.timer());
    engine
}
