//! Running `walk` on the compiled form.
//!
//! regorus 0.14's RVM compiler refuses any rule that uses `walk(x, [path, value])`
//! ("walk loops are not yet supported"), and SARK's policies use exactly that to filter
//! sensitive parameters at any depth, which would push every decision onto the ~10x
//! slower interpreter. So, for the RVM only, each statement
//!
//! ```rego
//! walk(x, [path, value])
//! ```
//!
//! is rewritten to the equivalent unification over an array of pairs
//!
//! ```rego
//! [path, value] = data.__sark_host.walk(x)[_]
//! ```
//!
//! where `data.__sark_host.walk` (the [`HELPER_SOURCE`] module, added to the bundle for
//! the RVM) asks the host with `__builtin_host_await(x, x)` for the pairs regorus's `walk`
//! builtin produces (same order); [`answer`] computes them. Unification keeps `walk`'s
//! meaning when `path` or `value` are already bound. The interpreter, error messages and
//! the builtin check keep seeing the original source.
//!
//! A host call can be answered two ways (see `plan.rs`). A *suspendable* VM stops at the
//! call and the plan resumes it with the answer; that mode is general but slow (it costs
//! more than the rest of SARK's decision). A *run-to-completion* VM takes answers
//! preloaded by the host, keyed by the call's identifier — here the argument itself — so
//! the plan preloads the pairs of the values a call is likely to ask for. When the VM asks
//! for a value that was not preloaded, the helper's `else` branch evaluates `abort`, whose
//! regex exceeds regorus's size limit: a fatal error that no rule swallows. The plan then
//! re-runs the evaluation suspendable. A wrong preload guess therefore costs time, never
//! a wrong answer.

use regorus::unstable::{Expr, Literal, LiteralStmt, Module};
use regorus::Value;

use crate::ast_visit::{visit_module, Visitor};

/// Package of the helper module; reserved (a bundle may not define it).
pub const HELPER_PACKAGE: &str = "__sark_host";

/// Module name of the helper in the RVM's copy of the bundle.
pub const HELPER_MODULE: &str = "__sark_host/walk.rego";

/// The helper module standing in for `walk` in rewritten modules.
pub const HELPER_SOURCE: &str = r#"package __sark_host

walk(x) := pairs if {
	pairs := __builtin_host_await(x, x)
} else := abort

# Compiling this pattern exceeds regorus's regex size limit: a fatal VM error, which
# stops a run-to-completion evaluation whose host answer was not preloaded.
abort := regex.match("(?:(?:(?:a{1000}){1000}){1000}){1000}", "")
"#;

/// `source` with every `walk(x, out)` statement rewritten, or None when it has none.
pub fn rewrite(module: &Module) -> Option<String> {
    let mut finder = WalkStatements::default();
    visit_module(module, &mut finder);
    if finder.edits.is_empty() {
        return None;
    }
    let mut source = module.package.span.source.contents().clone();
    finder.edits.sort_by_key(|edit| std::cmp::Reverse(edit.0));
    for (start, end, replacement) in finder.edits {
        source.replace_range(start..end, &replacement);
    }
    Some(source)
}

/// Byte ranges of `walk(x, out)` statements and their replacements.
#[derive(Default)]
struct WalkStatements {
    edits: Vec<(usize, usize, String)>,
}

impl Visitor for WalkStatements {
    fn statement(&mut self, stmt: &LiteralStmt) {
        // `with` could replace `walk` itself; leave such statements alone.
        if !stmt.with_mods.is_empty() {
            return;
        }
        let Literal::Expr { expr, .. } = &stmt.literal else {
            return;
        };
        let Expr::Call {
            span, fcn, params, ..
        } = expr.as_ref()
        else {
            return;
        };
        let is_walk = matches!(fcn.as_ref(), Expr::Var { span, .. } if span.text() == "walk");
        if !is_walk || params.len() != 2 {
            return;
        }
        let (Ok(start), Ok(end)) = (usize::try_from(span.start), usize::try_from(span.end)) else {
            return;
        };
        let replacement = format!(
            "{} = data.{HELPER_PACKAGE}.walk({})[_]",
            params[1].span().text(),
            params[0].span().text()
        );
        self.edits.push((start, end, replacement));
    }
}

/// The answer to the helper's host call for `target`: `walk(target)`'s pairs.
pub fn answer(target: &Value) -> Value {
    let mut pairs = Vec::new();
    visit(&mut Vec::new(), target, &mut pairs);
    Value::from(pairs)
}

/// Same traversal and order as regorus's `walk` builtin (graph.rs `walk_visit`).
fn visit(path: &mut Vec<Value>, value: &Value, pairs: &mut Vec<Value>) {
    pairs.push(Value::from(vec![Value::from(path.clone()), value.clone()]));
    match value {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(Value::from(index));
                visit(path, item, pairs);
                path.pop();
            }
        }
        Value::Set(items) => {
            for item in items.iter() {
                path.push(item.clone());
                visit(path, item, pairs);
                path.pop();
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields.iter_sorted() {
                path.push(key.clone());
                visit(path, field, pairs);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regorus::Engine;

    fn rewritten(src: &str) -> Option<String> {
        let mut engine = Engine::new();
        engine.add_policy("w.rego".into(), src.into()).unwrap();
        rewrite(&engine.get_modules()[0])
    }

    #[test]
    fn walk_statements_become_unifications_everywhere() {
        let src = "package w\nimport rego.v1\np contains path if {\n\twalk(input, [path, _])\n}\nq := [v | walk(input.x, [_, v])]\n";
        let out = rewritten(src).unwrap();
        assert_eq!(
            out,
            "package w\nimport rego.v1\np contains path if {\n\t[path, _] = data.__sark_host.walk(input)[_]\n}\nq := [v | [_, v] = data.__sark_host.walk(input.x)[_]]\n"
        );
    }

    #[test]
    fn modules_without_walk_are_left_alone() {
        assert_eq!(rewritten("package w\nx := 1\n"), None);
        assert_eq!(
            rewritten("package w\nimport rego.v1\nx if { walk(input, [p, _]) with input as {} }\n"),
            None
        );
    }

    #[test]
    fn answer_matches_the_walk_builtin() {
        let mut engine = Engine::new();
        let doc = r#"{"b": [1, {"c": 2}], "a": {"d": null}}"#;
        let expected = engine
            .eval_query(format!("walk({doc}, x)"), false)
            .unwrap()
            .result
            .iter()
            .map(|r| r.bindings["x"].clone())
            .collect::<Vec<_>>();
        let got = answer(&Value::from_json_str(doc).unwrap());
        assert_eq!(got, Value::from(expected));
    }
}
