//! An immutable, fully compiled bundle revision.
//!
//! A snapshot is built completely (parsed, builtins checked, prepared) before anyone can
//! see it; the engine then swaps it in atomically. Evaluations hold an `Arc` to the
//! snapshot they started on, so a reload never changes the policy under a running
//! evaluation and a failed reload never disturbs the one serving.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use regorus::unstable::{Rule, RuleHead};
use regorus::utils::get_path_string;
use regorus::{Engine, Value};

use crate::builtins_check::{describe, missing_builtins};
use crate::errors::EngineError;
use crate::plan::{new_engine, Limits, Mode, Plan};

/// The rule every SARK policy package exposes; compiled eagerly so the first request
/// after a reload does not pay for compilation.
const DECISION_RULE: &str = "decision";

/// Everything a snapshot is built from; kept so that incremental changes can rebuild.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Module name (bundle-relative path) to Rego source.
    pub modules: BTreeMap<String, String>,
    /// Data documents as `(origin, document)`, merged in order.
    pub data: Vec<(String, Value)>,
}

/// A compiled bundle revision.
pub struct Snapshot {
    /// Content revision (see `bundle::revision_of` and `bundle::chained_revision`).
    pub revision: String,
    /// What this snapshot was built from.
    pub sources: Sources,
    packages: Vec<String>,
    template: Mutex<Engine>,
    plans: ArcSwap<HashMap<String, Arc<Plan>>>,
    limits: Limits,
}

impl Snapshot {
    /// Parse, check and prepare `sources`; fails without side effects.
    pub fn build(revision: String, sources: Sources, limits: Limits) -> Result<Self, EngineError> {
        let mut engine = new_engine(&limits);
        for (name, source) in &sources.modules {
            engine
                .add_policy(name.clone(), source.clone())
                .map_err(EngineError::compile)?;
        }
        for (origin, document) in &sources.data {
            engine
                .add_data(document.clone())
                .map_err(|e| EngineError::Compile(format!("{origin}: {e}")))?;
        }
        let missing = missing_builtins(engine.get_modules()).map_err(EngineError::compile)?;
        if !missing.is_empty() {
            return Err(EngineError::Compile(describe(&missing)));
        }
        // Analysis (unsafe variables, recursion, imports) happens on first evaluation;
        // a trivial query forces it now so that errors surface at load time.
        engine
            .eval_query("true".to_string(), false)
            .map_err(EngineError::compile)?;
        let packages = package_names(&mut engine)?;
        let decision_rules = decision_rules(&mut engine)?;
        let snapshot = Self {
            revision,
            sources,
            packages,
            template: Mutex::new(engine),
            plans: ArcSwap::from_pointee(HashMap::new()),
            limits,
        };
        for rule in decision_rules {
            snapshot.plan(&rule)?;
        }
        Ok(snapshot)
    }

    /// Rego package names, sorted, without the `data.` prefix.
    pub fn packages(&self) -> &[String] {
        &self.packages
    }

    /// Evaluate `rule` (e.g. `data.mcp.authz.decision`) against `input`.
    pub fn evaluate(&self, rule: &str, input: Value) -> Result<Value, EngineError> {
        self.plan(rule)?.evaluate(input)
    }

    /// How `rule` is executed (compiling it first if needed).
    pub fn mode(&self, rule: &str) -> Result<Mode, EngineError> {
        Ok(self.plan(rule)?.mode())
    }

    /// The cached plan for `rule`, compiled on first use.
    ///
    /// Reads are lock-free (`ArcSwap::load`); a miss compiles outside any lock and
    /// publishes with a copy-on-write insert, so concurrent first calls at worst compile
    /// twice and keep one.
    fn plan(&self, rule: &str) -> Result<Arc<Plan>, EngineError> {
        if let Some(plan) = self.plans.load().get(rule) {
            return Ok(plan.clone());
        }
        let template = self
            .template
            .lock()
            .map_err(|_| EngineError::Compile("engine template poisoned".into()))?
            .clone();
        let plan = Arc::new(Plan::new(&template, rule, self.limits)?);
        self.plans.rcu(|plans| {
            let mut next = HashMap::clone(plans);
            next.entry(rule.to_string()).or_insert_with(|| plan.clone());
            next
        });
        Ok(self.plans.load().get(rule).cloned().unwrap_or(plan))
    }
}

fn package_names(engine: &mut Engine) -> Result<Vec<String>, EngineError> {
    let names: BTreeSet<String> = engine
        .get_packages()
        .map_err(EngineError::compile)?
        .into_iter()
        .map(|p| p.strip_prefix("data.").map(str::to_string).unwrap_or(p))
        .collect();
    Ok(names.into_iter().collect())
}

/// `data.<pkg>.decision` for every package that defines a `decision` rule.
fn decision_rules(engine: &mut Engine) -> Result<Vec<String>, EngineError> {
    let mut rules = BTreeSet::new();
    for module in engine.get_modules() {
        let package = get_path_string(&module.package.refr, Some("data")).map_err(EngineError::compile)?;
        for rule in &module.policy {
            let refr = match rule.as_ref() {
                Rule::Spec {
                    head: RuleHead::Compr { refr, .. },
                    ..
                } => refr,
                Rule::Default { refr, .. } => refr,
                _ => continue,
            };
            if get_path_string(refr, None).is_ok_and(|name| name == DECISION_RULE) {
                rules.insert(format!("{package}.{DECISION_RULE}"));
            }
        }
    }
    Ok(rules.into_iter().collect())
}
