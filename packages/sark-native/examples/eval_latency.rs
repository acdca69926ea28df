//! Evaluation latency in Rust alone, without Python: how much of `PolicyEngine.evaluate`
//! is regorus's and how much is the binding's (conversion, GIL hand-off).
//!
//! ```text
//! cargo run --release --example eval_latency -- BUNDLE_DIR INPUT_JSON [RULE] [ITERATIONS]
//! ```
//!
//! Prints one JSON object per executor, p50/p99 in microseconds, for the same rule and
//! input: `plan` (what `PolicyEngine.evaluate` runs, the compiled RVM program with its VM
//! pool) and `interpreter` (regorus's tree-walking `Engine::eval_rule` on the bundle as
//! written). `tests/benchmarks/bench_native.py` runs it next to the Python measurements.

use std::path::Path;
use std::time::{Duration, Instant};

use regorus::{Engine, Value};
use sark_native::bundle::BundleSource;
use sark_native::plan::{new_engine, Limits};
use sark_native::snapshot::{Snapshot, Sources};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bundle, input, rest @ ..] = args.as_slice() else {
        return Err("usage: eval_latency BUNDLE_DIR INPUT_JSON [RULE] [ITERATIONS]".into());
    };
    let rule = rest
        .first()
        .map_or("data.mcp.authz.decision", String::as_str);
    let iterations: usize = rest.get(1).map_or(Ok(20_000), |n| n.parse())?;
    let limits = Limits {
        timeout: Duration::from_secs(1),
        pool_size: 1,
    };

    let source = BundleSource::read(Path::new(bundle))?;
    let sources = Sources {
        modules: source.modules()?.into_iter().collect(),
        data: source.data_documents()?,
    };
    let mut engine = new_engine(&limits);
    for (name, module) in &sources.modules {
        engine.add_policy(name.clone(), module.clone())?;
    }
    for (_, document) in &sources.data {
        engine.add_data(document.clone())?;
    }
    let snapshot = Snapshot::build(source.revision.clone(), sources, limits)?;
    let input = Value::from_json_file(input)?;

    let compiled = snapshot.evaluate(rule, input.clone())?;
    let interpreted = interpret(&mut engine, rule, &input)?;
    if compiled != interpreted {
        return Err(format!("executors disagree: {compiled} vs {interpreted}").into());
    }
    let plan = percentiles(iterations, || {
        snapshot.evaluate(rule, input.clone()).map(drop)
    })?;
    let interpreter = percentiles(iterations / 4, || {
        interpret(&mut engine, rule, &input).map(drop)
    })?;
    let rows = [
        ("plan", snapshot.mode(rule)?.as_str(), plan),
        ("interpreter", "interpreted", interpreter),
    ];
    for (executor, mode, (p50, p99)) in rows {
        println!(
            r#"{{"executor": "{executor}", "mode": "{mode}", "p50_us": {p50:.1}, "p99_us": {p99:.1}}}"#
        );
    }
    Ok(())
}

fn interpret(engine: &mut Engine, rule: &str, input: &Value) -> Result<Value, Error> {
    engine.set_input(input.clone());
    Ok(engine.eval_rule(rule.to_string())?)
}

/// (p50, p99) in microseconds of `iterations` calls, after a tenth as many to warm up.
fn percentiles<E>(
    iterations: usize,
    mut call: impl FnMut() -> Result<(), E>,
) -> Result<(f64, f64), E> {
    for _ in 0..iterations / 10 {
        call()?;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations.max(1) {
        let start = Instant::now();
        call()?;
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let at =
        |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)].as_secs_f64() * 1e6;
    Ok((at(50), at(99)))
}
