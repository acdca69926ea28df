//! Load-time check that every function a bundle calls exists in this build of regorus.
//!
//! regorus resolves function calls only when it evaluates them, so a policy calling a
//! builtin it lacks (e.g. `net.cidr_merge`) would load fine and then fail, or worse be
//! silently undefined, on the first request that reaches that line. OPA and the native
//! engine must agree, so such a bundle is refused at load time, naming every call site.

use std::collections::BTreeMap;

use regorus::unstable::{Expr, Module, Ref, BUILTINS};
use regorus::utils::{gather_functions, get_path_string, FunctionTable};

use crate::ast_visit::{leftmost, visit_module, Visitor};

/// Names the interpreter handles itself rather than through the builtins table.
const INTRINSICS: &[&str] = &["print"];

/// A call to a function that is neither a builtin nor defined by the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingBuiltin {
    /// The function as written, e.g. `net.cidr_merge`.
    pub name: String,
    /// `file:row:col` of the call.
    pub location: String,
}

/// Find every call in `modules` that nothing can satisfy.
pub fn missing_builtins(modules: &[Ref<Module>]) -> anyhow::Result<Vec<MissingBuiltin>> {
    let functions = gather_functions(modules)?;
    let mut missing = Vec::new();
    for module in modules {
        let resolver = Resolver::new(module, &functions)?;
        let mut calls = Calls::default();
        visit_module(module, &mut calls);
        for (name, location) in calls.0 {
            if !resolver.is_known(&name) {
                missing.push(MissingBuiltin { name, location });
            }
        }
    }
    Ok(missing)
}

/// Render the findings as one actionable message.
pub fn describe(missing: &[MissingBuiltin]) -> String {
    let sites: Vec<String> = missing
        .iter()
        .map(|m| format!("{} at {}", m.name, m.location))
        .collect();
    format!(
        "bundle calls functions that the native engine (regorus) does not provide: {}",
        sites.join(", ")
    )
}

/// Resolves call names the way Rego does: builtins, same-package functions, imports,
/// fully qualified `data.` paths.
struct Resolver<'a> {
    package: String,
    imports: BTreeMap<String, String>,
    functions: &'a FunctionTable,
}

impl<'a> Resolver<'a> {
    fn new(module: &Module, functions: &'a FunctionTable) -> anyhow::Result<Self> {
        let package = get_path_string(&module.package.refr, Some("data"))?;
        let mut imports = BTreeMap::new();
        for import in &module.imports {
            let Ok(path) = get_path_string(&import.refr, None) else {
                continue;
            };
            let alias = match &import.r#as {
                Some(span) => span.text().to_string(),
                None => path.rsplit('.').next().unwrap_or_default().to_string(),
            };
            imports.insert(alias, path);
        }
        Ok(Self {
            package,
            imports,
            functions,
        })
    }

    fn is_known(&self, name: &str) -> bool {
        if BUILTINS.contains_key(name) || INTRINSICS.contains(&name) {
            return true;
        }
        if self.functions.contains_key(name)
            || self
                .functions
                .contains_key(&format!("{}.{name}", self.package))
        {
            return true;
        }
        let (head, rest) = name.split_once('.').unwrap_or((name, ""));
        match self.imports.get(head) {
            Some(target) if rest.is_empty() => self.functions.contains_key(target),
            Some(target) => self.functions.contains_key(&format!("{target}.{rest}")),
            None => false,
        }
    }
}

/// `(name, file:row:col)` of every call with a static name.
#[derive(Default)]
struct Calls(Vec<(String, String)>);

impl Visitor for Calls {
    fn call(&mut self, call: &Expr) {
        if let Expr::Call { fcn, .. } = call {
            if let Ok(name) = get_path_string(fcn, None) {
                let at = leftmost(fcn).span();
                let location = format!("{}:{}:{}", at.source.get_path(), at.line, at.col);
                self.0.push((name, location));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regorus::Engine;

    fn check(sources: &[(&str, &str)]) -> Vec<MissingBuiltin> {
        let mut engine = Engine::new();
        for (name, src) in sources {
            engine
                .add_policy((*name).to_string(), (*src).to_string())
                .unwrap();
        }
        missing_builtins(engine.get_modules()).unwrap()
    }

    #[test]
    fn known_builtins_user_functions_and_imports_pass() {
        let lib = "package lib\nshout(x) := upper(x)\n";
        let main = r#"package main
import data.lib
import data.lib as l
f(x) := concat(",", [x])
r := v if {
    v := [lib.shout("a"), l.shout("b"), f("c"), data.lib.shout("d"), time.now_ns()]
    print(v)
}
"#;
        assert_eq!(check(&[("lib.rego", lib), ("main.rego", main)]), vec![]);
    }

    #[test]
    fn reports_every_missing_builtin_with_its_location() {
        let src = r#"package p
a := net.cidr_merge(["10.0.0.0/8"])
b if {
    some x in [1]
    http.send({"method": "get", "url": "http://localhost"}) == x
}
c := [y | y := no.such_function(1)]
"#;
        let missing = check(&[("p.rego", src)]);
        let names: Vec<_> = missing.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["net.cidr_merge", "http.send", "no.such_function"]);
        assert_eq!(missing[0].location, "p.rego:2:6");
        assert!(describe(&missing).contains("http.send at p.rego:5:5"));
    }
}
