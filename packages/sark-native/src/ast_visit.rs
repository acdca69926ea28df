//! A read-only walk over regorus's AST, shared by the load-time checks and rewrites.
//!
//! regorus exposes its AST only through `regorus::unstable`; keeping every match on it in
//! this one module means a regorus upgrade that reshapes the AST breaks one file.

use regorus::unstable::{Expr, Literal, LiteralStmt, Module, Query, Rule, RuleHead};

/// Callbacks for the nodes the visitors care about; both default to doing nothing.
pub trait Visitor {
    /// Every function call expression, outermost first.
    fn call(&mut self, _call: &Expr) {}
    /// Every statement of every query (rule bodies, comprehensions, `every`).
    fn statement(&mut self, _stmt: &LiteralStmt) {}
}

/// Visit every rule of `module`.
pub fn visit_module(module: &Module, visitor: &mut impl Visitor) {
    for rule in &module.policy {
        visit_rule(rule, visitor);
    }
}

fn visit_rule(rule: &Rule, v: &mut impl Visitor) {
    match rule {
        Rule::Spec { head, bodies, .. } => {
            match head {
                RuleHead::Compr { refr, assign, .. } => {
                    visit_expr(refr, v);
                    if let Some(assign) = assign {
                        visit_expr(&assign.value, v);
                    }
                }
                RuleHead::Set { refr, key, .. } => {
                    visit_expr(refr, v);
                    if let Some(key) = key {
                        visit_expr(key, v);
                    }
                }
                RuleHead::Func {
                    refr, args, assign, ..
                } => {
                    visit_expr(refr, v);
                    args.iter().for_each(|a| visit_expr(a, v));
                    if let Some(assign) = assign {
                        visit_expr(&assign.value, v);
                    }
                }
            }
            for body in bodies {
                if let Some(assign) = &body.assign {
                    visit_expr(&assign.value, v);
                }
                visit_query(&body.query, v);
            }
        }
        Rule::Default { value, args, .. } => {
            args.iter().for_each(|a| visit_expr(a, v));
            visit_expr(value, v);
        }
    }
}

fn visit_query(query: &Query, v: &mut impl Visitor) {
    for stmt in &query.stmts {
        v.statement(stmt);
        match &stmt.literal {
            Literal::SomeVars { .. } => {}
            Literal::SomeIn {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(key) = key {
                    visit_expr(key, v);
                }
                visit_expr(value, v);
                visit_expr(collection, v);
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => visit_expr(expr, v),
            Literal::Every { domain, query, .. } => {
                visit_expr(domain, v);
                visit_query(query, v);
            }
        }
        for with in &stmt.with_mods {
            visit_expr(&with.r#as, v);
        }
    }
}

fn visit_expr(expr: &Expr, v: &mut impl Visitor) {
    match expr {
        Expr::Call { params, .. } => {
            v.call(expr);
            params.iter().for_each(|p| visit_expr(p, v));
        }
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().for_each(|i| visit_expr(i, v));
        }
        Expr::Object { fields, .. } => {
            for (_, key, value) in fields {
                visit_expr(key, v);
                visit_expr(value, v);
            }
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            visit_expr(term, v);
            visit_query(query, v);
        }
        Expr::ObjectCompr {
            key, value, query, ..
        } => {
            visit_expr(key, v);
            visit_expr(value, v);
            visit_query(query, v);
        }
        Expr::UnaryExpr { expr, .. } => visit_expr(expr, v),
        Expr::RefDot { refr, .. } => visit_expr(refr, v),
        Expr::RefBrack { refr, index, .. } => {
            visit_expr(refr, v);
            visit_expr(index, v);
        }
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            visit_expr(lhs, v);
            visit_expr(rhs, v);
        }
        Expr::Membership {
            key,
            value,
            collection,
            ..
        } => {
            if let Some(key) = key {
                visit_expr(key, v);
            }
            visit_expr(value, v);
            visit_expr(collection, v);
        }
        Expr::String { .. }
        | Expr::RawString { .. }
        | Expr::Number { .. }
        | Expr::Bool { .. }
        | Expr::Null { .. }
        | Expr::Var { .. } => {}
    }
}

/// The start of a dotted name: RefDot spans begin at the dot, the name at its root var.
pub fn leftmost(mut expr: &Expr) -> &Expr {
    while let Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } = expr {
        expr = refr;
    }
    expr
}
