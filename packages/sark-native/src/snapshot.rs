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
use crate::host_walk;
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
    /// Same bundle with `walk` statements rewritten for the RVM (see `host_walk`).
    rvm_template: Mutex<Engine>,
    plans: ArcSwap<HashMap<String, Arc<Plan>>>,
    limits: Limits,
}

impl Snapshot {
    /// Parse, check and prepare `sources`; fails without side effects.
    pub fn build(revision: String, sources: Sources, limits: Limits) -> Result<Self, EngineError> {
        let mut engine = prepared_engine(&sources.modules, &sources.data, &limits)?;
        let missing = missing_builtins(engine.get_modules()).map_err(EngineError::compile)?;
        if !missing.is_empty() {
            return Err(EngineError::Compile(describe(&missing)));
        }
        let packages = package_names(&mut engine)?;
        if packages.iter().any(|p| p == host_walk::HELPER_PACKAGE) {
            return Err(EngineError::Compile(format!(
                "package {} is reserved by sark-native",
                host_walk::HELPER_PACKAGE
            )));
        }
        let rvm_engine = match rewritten_modules(&mut engine) {
            Some(modules) => prepared_engine(&modules, &sources.data, &limits)?,
            None => engine.clone(),
        };
        let decision_rules = decision_rules(&mut engine)?;
        let snapshot = Self {
            revision,
            sources,
            packages,
            template: Mutex::new(engine),
            rvm_template: Mutex::new(rvm_engine),
            plans: ArcSwap::from_pointee(HashMap::new()),
            limits,
        };
        for rule in decision_rules {
            snapshot
                .plan(&rule)
                .map_err(|e| EngineError::Compile(e.to_string()))?;
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
        let poisoned = |_| EngineError::Compile("engine template poisoned".into());
        let template = self.template.lock().map_err(poisoned)?.clone();
        let rvm_template = self.rvm_template.lock().map_err(poisoned)?.clone();
        let plan = Arc::new(Plan::new(&template, &rvm_template, rule, self.limits)?);
        self.plans.rcu(|plans| {
            let mut next = HashMap::clone(plans);
            next.entry(rule.to_string()).or_insert_with(|| plan.clone());
            next
        });
        Ok(self.plans.load().get(rule).cloned().unwrap_or(plan))
    }
}

/// An engine holding `modules` and `data`, analysed (unsafe variables, imports, ...).
fn prepared_engine(
    modules: &BTreeMap<String, String>,
    data: &[(String, Value)],
    limits: &Limits,
) -> Result<Engine, EngineError> {
    let mut engine = new_engine(limits);
    for (name, source) in modules {
        engine
            .add_policy(name.clone(), source.clone())
            .map_err(EngineError::compile)?;
    }
    for (origin, document) in data {
        engine
            .add_data(document.clone())
            .map_err(|e| EngineError::Compile(format!("{origin}: {e}")))?;
    }
    // Analysis happens on first evaluation; a trivial query forces it now so that
    // errors surface at load time.
    engine
        .eval_query("true".to_string(), false)
        .map_err(EngineError::compile)?;
    Ok(engine)
}

/// Module sources with `walk` statements rewritten and the helper they call, or None
/// when no module uses `walk`.
fn rewritten_modules(engine: &mut Engine) -> Option<BTreeMap<String, String>> {
    let mut changed = false;
    let mut modules: BTreeMap<String, String> = engine
        .get_modules()
        .iter()
        .map(|module| {
            let source = &module.package.span.source;
            let text = host_walk::rewrite(module).inspect(|_| changed = true);
            (
                source.get_path().clone(),
                text.unwrap_or_else(|| source.contents().clone()),
            )
        })
        .collect();
    modules.insert(
        host_walk::HELPER_MODULE.to_string(),
        host_walk::HELPER_SOURCE.to_string(),
    );
    changed.then_some(modules)
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
        let package =
            get_path_string(&module.package.refr, Some("data")).map_err(EngineError::compile)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            timeout: Duration::from_millis(200),
            pool_size: 2,
        }
    }

    fn build(modules: &[(&str, &str)], data: Option<&str>) -> Result<Snapshot, EngineError> {
        let sources = Sources {
            modules: modules
                .iter()
                .map(|(n, s)| ((*n).to_string(), (*s).to_string()))
                .collect(),
            data: data
                .map(|d| vec![("test".to_string(), Value::from_json_str(d).unwrap())])
                .unwrap_or_default(),
        };
        Snapshot::build("rev".into(), sources, limits())
    }

    const AUTHZ: &str = r#"package mcp.authz
import rego.v1

cfg := data.cfg
rank := cfg.ranks[input.subject.role]
level := object.get(input.resource.tool, "sensitivity_level", "medium")
ns := time.parse_rfc3339_ns(input.context.time)
hour := time.clock([ns, cfg.tz])[0]
default in_hours := false
in_hours if { hour >= 8; hour < 19; time.weekday([ns, cfg.tz]) in cfg.days }
secret_names := {lower(n) | some n in cfg.secrets}
nested contains p if { walk(input.parameters, [p, _]); count(p) > 1; lower(p[count(p) - 1]) in secret_names }
top contains k if { some k, _ in input.parameters; lower(k) in secret_names }
scrubbed := json.remove(object.remove(input.parameters, top), nested)
failed := [r | some c in [["role", rank >= 1], ["hours", in_hours], ["level", level != "critical"]]; not c[1]; r := c[0]]
default decision := {"allow": false, "reason": "unknown"}
decision := {"allow": true, "reason": "allowed", "filtered_parameters": scrubbed} if count(failed) == 0
else := {"allow": false, "reason": failed[0]}
"#;

    const DATA: &str = r#"{"cfg": {"ranks": {"viewer": 0, "developer": 1}, "tz": "Europe/Paris",
        "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
        "secrets": ["Password", "token"]}}"#;

    fn input(role: &str, time: &str, level: &str) -> Value {
        Value::from_json_str(&format!(
            r#"{{"subject": {{"role": "{role}"}}, "context": {{"time": "{time}"}},
                "resource": {{"tool": {{"sensitivity_level": "{level}"}}}},
                "parameters": {{"q": 1, "PASSWORD": "x", "o": {{"Token": "t", "k": [1]}}}}}}"#
        ))
        .unwrap()
    }

    /// The bundle SARK ships (`opa/` at the repository root), plus `extra` modules.
    fn shipped_bundle(extra: &[(&str, &str)]) -> Snapshot {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../opa");
        let bundle = crate::bundle::BundleSource::read(&root).unwrap();
        let mut modules: BTreeMap<String, String> = bundle.modules().unwrap().into_iter().collect();
        modules.extend(
            extra
                .iter()
                .map(|(n, s)| ((*n).to_string(), (*s).to_string())),
        );
        let data = bundle.data_documents().unwrap();
        Snapshot::build("rev".into(), Sources { modules, data }, limits()).unwrap()
    }

    #[test]
    fn every_shipped_decision_runs_compiled() {
        let snapshot = shipped_bundle(&[]);
        for rule in [
            "data.mcp.authz.decision",
            "data.mcp.gateway.decision",
            "data.mcp.gateway.a2a.decision",
        ] {
            let plan = snapshot.plan(rule).unwrap();
            assert_eq!(
                plan.mode(),
                Mode::Compiled,
                "{rule}: {:?}",
                plan.fallback_reason()
            );
        }
    }

    #[test]
    fn reading_another_package_through_an_alias_runs_on_the_interpreter() {
        // regorus 0.14 compiles `authz.rfc3339_pattern` (alias of another package) to a
        // lookup of the whole package, and its RVM answered `[]` here.
        let reader = "package reader\nimport data.mcp.authz\npattern := authz.rfc3339_pattern\n";
        let snapshot = shipped_bundle(&[("reader.rego", reader)]);
        let plan = snapshot.plan("data.reader.pattern").unwrap();
        assert_eq!(plan.mode(), Mode::Interpreted);
        assert!(plan
            .fallback_reason()
            .unwrap()
            .contains("virtual document lookup"));
        let pattern = plan.evaluate(Value::new_object()).unwrap();
        assert!(
            pattern.as_string().unwrap().starts_with("^(19|20|21)"),
            "{pattern}"
        );
    }

    #[test]
    fn realistic_policy_runs_compiled_and_matches_the_interpreter() {
        let snapshot = build(&[("authz.rego", AUTHZ)], Some(DATA)).unwrap();
        let rule = "data.mcp.authz.decision";
        let plan = snapshot.plan(rule).unwrap();
        assert_eq!(plan.mode(), Mode::Compiled, "{:?}", plan.fallback_reason());
        let cases = [
            (
                input("developer", "2026-11-23T10:00:00Z", "low"),
                r#"{"allow": true, "reason": "allowed", "filtered_parameters": {"q": 1, "o": {"k": [1]}}}"#,
            ),
            (
                input("viewer", "2026-11-23T10:00:00Z", "low"),
                r#"{"allow": false, "reason": "role"}"#,
            ),
            // 18:30 UTC is 19:30 in Paris: outside business hours.
            (
                input("developer", "2026-11-23T18:30:00Z", "low"),
                r#"{"allow": false, "reason": "hours"}"#,
            ),
            (
                input("developer", "2026-11-22T10:00:00Z", "low"),
                r#"{"allow": false, "reason": "hours"}"#,
            ),
            (
                input("developer", "2026-11-23T10:00:00Z", "critical"),
                r#"{"allow": false, "reason": "level"}"#,
            ),
        ];
        for (case, expected) in cases {
            let expected = Value::from_json_str(expected).unwrap();
            assert_eq!(plan.evaluate(case.clone()).unwrap(), expected);
            assert_eq!(plan.evaluate_interpreted(case).unwrap(), expected);
        }
    }

    #[test]
    fn walk_runs_on_the_compiled_form_with_the_same_results() {
        let policy = "package w\nimport rego.v1\nsecret := {\"token\", \"password\"}\n\
            paths contains p if {\n\twalk(input, [p, v])\n\tcount(p) > 0\n\tlower(p[count(p) - 1]) in secret\n}\n\
            decision := {\"paths\": paths, \"clean\": json.remove(input, paths)}\n";
        let snapshot = build(&[("w.rego", policy)], None).unwrap();
        let plan = snapshot.plan("data.w.decision").unwrap();
        assert_eq!(plan.mode(), Mode::Compiled, "{:?}", plan.fallback_reason());
        let input =
            Value::from_json_str(r#"{"a": {"Token": 1, "b": [{"password": 2}]}, "c": 3}"#).unwrap();
        let compiled = plan.evaluate(input.clone()).unwrap();
        assert_eq!(compiled, plan.evaluate_interpreted(input).unwrap());
        let paths: Vec<Value> = compiled["paths"]
            .as_set()
            .unwrap()
            .iter()
            .cloned()
            .collect();
        let expected =
            Value::from_json_str(r#"[["a", "Token"], ["a", "b", 0, "password"]]"#).unwrap();
        assert_eq!(Value::from(paths), expected);
        assert_eq!(
            compiled["clean"]["a"].as_object().unwrap().len(),
            1,
            "Token removed"
        );
    }

    const WALKS: &str = "package w\nimport rego.v1\nsecret := {\"token\", \"password\"}\n\
        default params := {}\nparams := input.parameters if is_object(input.parameters)\n\
        top contains p if {\n\twalk(params, [p, _])\n\tcount(p) > 0\n\tlower(p[count(p) - 1]) in secret\n}\n\
        deep contains p if {\n\twalk(input.context.extra, [p, _])\n\tcount(p) > 0\n}\n\
        many contains [i, p] if {\n\tsome i in numbers.range(1, 20)\n\twalk(params, [p, _])\n}\n\
        decision := {\"top\": top, \"deep\": deep, \"many\": count(many)}\n";

    fn walk_input(token: &str) -> Value {
        Value::from_json_str(&format!(
            r#"{{"parameters": {{"a": {{"Token": "{token}"}}, "b": [{{"password": 2}}]}},
                "context": {{"extra": {{"x": [1, 2]}}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn walked_inputs_are_learned_then_preloaded() {
        let policy = "package w\nimport rego.v1\ndefault params := {}\n\
            params := input.parameters if is_object(input.parameters)\n\
            decision := [p | walk(params, [p, _])]\n";
        let snapshot = build(&[("w.rego", policy)], None).unwrap();
        let plan = snapshot.plan("data.w.decision").unwrap();
        assert_eq!(plan.mode(), Mode::Compiled, "{:?}", plan.fallback_reason());
        for n in 0..5 {
            let input =
                Value::from_json_str(&format!(r#"{{"parameters": {{"k": [{n}, {{"j": 1}}]}}}}"#))
                    .unwrap();
            let compiled = plan.evaluate(input.clone()).unwrap();
            assert_eq!(compiled, plan.evaluate_interpreted(input).unwrap());
        }
        // The first walk of `input.parameters` ran suspendable; the next ones were preloaded.
        assert_eq!(plan.suspended_runs(), 1);
        // Not an object: `params` is the default {}, which is always preloaded.
        let input = Value::from_json_str(r#"{"parameters": 3}"#).unwrap();
        assert_eq!(
            plan.evaluate(input.clone()).unwrap(),
            plan.evaluate_interpreted(input).unwrap()
        );
        assert_eq!(plan.suspended_runs(), 1);
    }

    #[test]
    fn walks_that_cannot_be_preloaded_still_answer_right() {
        // `deep` walks a nested value (never preloaded) and `many` walks the same value
        // more often than it is preloaded: each such evaluation runs again suspendable.
        let snapshot = build(&[("w.rego", WALKS)], None).unwrap();
        let plan = snapshot.plan("data.w.decision").unwrap();
        assert_eq!(plan.mode(), Mode::Compiled, "{:?}", plan.fallback_reason());
        for token in ["t1", "t2", "t3"] {
            let input = walk_input(token);
            let compiled = plan.evaluate(input.clone()).unwrap();
            assert_eq!(compiled, plan.evaluate_interpreted(input).unwrap());
            assert_eq!(compiled["deep"].as_set().unwrap().len(), 3);
            assert_eq!(compiled["top"].as_set().unwrap().len(), 2);
        }
        assert_eq!(plan.suspended_runs(), 3);
    }

    #[test]
    fn the_helper_package_is_reserved() {
        let err = build(&[("h.rego", "package __sark_host\nx := 1\n")], None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("reserved"), "{err}");
    }

    #[test]
    fn decision_rules_are_compiled_at_load_time() {
        let snapshot = build(&[("authz.rego", AUTHZ)], Some(DATA)).unwrap();
        assert!(snapshot
            .plans
            .load()
            .contains_key("data.mcp.authz.decision"));
        assert_eq!(snapshot.packages(), ["mcp.authz"]);
    }

    #[test]
    fn undefined_rule_is_undefined_and_unknown_rule_is_an_error() {
        let snapshot = build(
            &[(
                "p.rego",
                "package p\nimport rego.v1\nx := 1 if input.a == 1\n",
            )],
            None,
        )
        .unwrap();
        assert_eq!(
            snapshot.evaluate("data.p.x", Value::new_object()).unwrap(),
            Value::Undefined
        );
        let err = snapshot
            .evaluate("data.p.nope", Value::new_object())
            .unwrap_err();
        assert!(
            matches!(err, EngineError::Evaluation(ref m) if m.contains("data.p.nope")),
            "{err:?}"
        );
    }

    #[test]
    fn builtin_errors_are_undefined_like_opa() {
        let snapshot = build(
            &[(
                "p.rego",
                "package p\nimport rego.v1\ny := to_number(\"abc\")\n",
            )],
            None,
        )
        .unwrap();
        assert_eq!(
            snapshot.evaluate("data.p.y", Value::new_object()).unwrap(),
            Value::Undefined
        );
    }

    #[test]
    fn syntax_errors_carry_file_row_and_column() {
        let err = build(
            &[("bad.rego", "package b\nx if {\n  input.a ==\n}\n")],
            None,
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, EngineError::Compile(ref m) if m.contains("bad.rego:4:1")),
            "{err:?}"
        );
    }

    #[test]
    fn missing_builtins_fail_the_load() {
        let err = build(
            &[(
                "n.rego",
                "package n\nx := net.cidr_merge([\"10.0.0.0/8\"])\n",
            )],
            None,
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, EngineError::Compile(ref m) if m.contains("net.cidr_merge at n.rego:2:6")),
            "{err:?}"
        );
    }

    #[test]
    fn conflicting_data_fails_the_load() {
        let sources = Sources {
            modules: BTreeMap::new(),
            data: vec![
                (
                    "a.json".into(),
                    Value::from_json_str(r#"{"k": 1}"#).unwrap(),
                ),
                (
                    "b.json".into(),
                    Value::from_json_str(r#"{"k": 2}"#).unwrap(),
                ),
            ],
        };
        let err = Snapshot::build("r".into(), sources, limits())
            .err()
            .unwrap();
        assert!(
            matches!(err, EngineError::Compile(ref m) if m.starts_with("b.json")),
            "{err:?}"
        );
    }

    #[test]
    fn runaway_rules_time_out_on_both_executors() {
        let slow = "package s\nimport rego.v1\nspin := count([x | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); x := i * j])\n";
        let snapshot = build(&[("s.rego", slow)], None).unwrap();
        let plan = snapshot.plan("data.s.spin").unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            plan.evaluate(Value::new_object()),
            Err(EngineError::Timeout(_))
        ));
        assert!(matches!(
            plan.evaluate_interpreted(Value::new_object()),
            Err(EngineError::Timeout(_))
        ));
        // Generous bound: the point is "stopped", not "stopped fast" (timings are benchmarked).
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
