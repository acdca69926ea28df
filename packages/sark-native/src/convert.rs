//! Conversion between Python objects and regorus `Value`s.
//!
//! Done directly on Python objects (no JSON text in between) because the round trip
//! through `json.dumps`/`json.loads` would cost more than the evaluation itself.
//! The accepted shapes are JSON's, which is all an OPA input can be, so the native
//! engine and OPA over HTTP see the same documents.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use regorus::Value;

/// Nesting deeper than this is refused: it is never a real policy input and a
/// self-referencing list would otherwise recurse until the stack overflows.
const MAX_DEPTH: usize = 256;

/// 2**53: from here on not every integer has an exact f64.
const F64_EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Convert a JSON-shaped Python object to a `Value`.
///
/// `dict` keys must be `str` (TypeError otherwise); `tuple` converts like `list`;
/// non-finite floats are refused because JSON and Rego cannot represent them.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(obj, 0)
}

fn to_value_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "input nests deeper than {MAX_DEPTH} levels"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::from(s.to_str()?));
    }
    // bool before int: Python's bool is an int subclass.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::from(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return int_to_value(i);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        if !v.is_finite() {
            return Err(PyValueError::new_err(format!(
                "cannot convert non-finite float {v} to a Rego number"
            )));
        }
        return Ok(Value::from(v));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return dict_to_value(dict, depth);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        let items = list
            .iter()
            .map(|item| to_value_at(&item, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::from(items));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        let items = tuple
            .iter()
            .map(|item| to_value_at(&item, depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::from(items));
    }
    Err(PyTypeError::new_err(format!(
        "cannot convert {} to a Rego value: use dict, list, tuple, str, int, float, bool or None",
        obj.get_type().name()?
    )))
}

fn int_to_value(i: &Bound<'_, PyInt>) -> PyResult<Value> {
    if let Ok(v) = i.extract::<i64>() {
        return Ok(Value::from(v));
    }
    if let Ok(v) = i.extract::<u64>() {
        return Ok(Value::from(v));
    }
    let digits = i.str()?;
    Value::from_numeric_string(digits.to_str()?)
        .map_err(|e| PyValueError::new_err(format!("cannot convert integer {digits}: {e}")))
}

fn dict_to_value(dict: &Bound<'_, PyDict>, depth: usize) -> PyResult<Value> {
    let mut object = Value::new_object();
    let map = object
        .as_object_mut()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    for (key, value) in dict.iter() {
        let Ok(key) = key.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "dict keys must be str to convert to a Rego object, got {}",
                key.get_type().name()?
            )));
        };
        map.insert(Value::from(key.to_str()?), to_value_at(&value, depth + 1)?);
    }
    Ok(object)
}

/// Convert a `Value` to plain Python objects (dict/list/str/int/float/bool/None).
///
/// Matches what OPA's JSON API yields: sets become lists, integral numbers become
/// `int`, non-string object keys become their JSON text, undefined becomes `None`.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null | Value::Undefined => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(_) => number_to_python(py, value)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| to_python(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Set(items) => {
            let items = items
                .iter()
                .map(|v| to_python(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, field) in fields.iter() {
                let key = match key {
                    Value::String(s) => PyString::new(py, s),
                    other => PyString::new(
                        py,
                        &other
                            .to_json_str()
                            .map_err(|e| PyValueError::new_err(e.to_string()))?,
                    ),
                };
                dict.set_item(key, to_python(py, field)?)?;
            }
            dict.into_any()
        }
    })
}

fn number_to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    let number = value
        .as_number()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    if number.is_integer() {
        // A float this large is one that was written as a float (integers past 2**53
        // have no f64 view): keep it a float rather than invent digits.
        if let Some(v) = number
            .as_f64()
            .filter(|v| v.abs() >= F64_EXACT_INTEGER_LIMIT)
        {
            return Ok(PyFloat::new(py, v).into_any());
        }
        if let Some(v) = number.as_i64() {
            return Ok(v.into_pyobject(py)?.into_any());
        }
        if let Some(v) = number.as_u64() {
            return Ok(v.into_pyobject(py)?.into_any());
        }
        // Arbitrary-precision integer: let Python parse its exact decimal digits.
        let digits = number.format_decimal();
        if let Ok(int) = py.get_type::<PyInt>().call1((digits.as_str(),)) {
            return Ok(int);
        }
    }
    match number.as_f64() {
        Some(v) => Ok(PyFloat::new(py, v).into_any()),
        None => Err(PyValueError::new_err(format!(
            "number {} has no Python representation",
            number.format_decimal()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::types::PyDictMethods;

    fn roundtrip(py: Python<'_>, src: &str) -> (Value, String) {
        let obj = py
            .eval(&std::ffi::CString::new(src).unwrap(), None, None)
            .unwrap();
        let value = to_value(&obj).unwrap();
        let back = to_python(py, &value).unwrap();
        (value, back.repr().unwrap().to_string())
    }

    #[test]
    fn json_shapes_convert_both_ways() {
        Python::initialize();
        Python::attach(|py| {
            let (value, back) = roundtrip(
                py,
                "{'a': [1, 2.5, True, None, 'x'], 'b': {'c': -7}, 't': (1, 2)}",
            );
            let expected = Value::from_json_str(
                r#"{"a": [1, 2.5, true, null, "x"], "b": {"c": -7}, "t": [1, 2]}"#,
            )
            .unwrap();
            assert_eq!(value, expected);
            assert_eq!(
                back,
                "{'a': [1, 2.5, True, None, 'x'], 'b': {'c': -7}, 't': [1, 2]}"
            );
        });
    }

    #[test]
    fn big_integers_survive_exactly() {
        Python::initialize();
        Python::attach(|py| {
            let (_, back) = roundtrip(py, "[2**64 + 1, -(2**70), 2**63, 2.0**64, 3.0]");
            assert_eq!(
                back,
                "[18446744073709551617, -1180591620717411303424, 9223372036854775808, 1.8446744073709552e+19, 3]"
            );
        });
    }

    #[test]
    fn non_string_keys_and_unknown_types_are_type_errors() {
        Python::initialize();
        Python::attach(|py| {
            let dict = PyDict::new(py);
            dict.set_item(1, "x").unwrap();
            let err = to_value(dict.as_any()).unwrap_err();
            assert!(err.is_instance_of::<PyTypeError>(py));
            let set = py.eval(c"{1, 2}", None, None).unwrap();
            let err = to_value(&set).unwrap_err();
            assert!(err.is_instance_of::<PyTypeError>(py));
        });
    }

    #[test]
    fn nan_and_self_reference_are_value_errors() {
        Python::initialize();
        Python::attach(|py| {
            let nan = py.eval(c"float('nan')", None, None).unwrap();
            assert!(to_value(&nan)
                .unwrap_err()
                .is_instance_of::<PyValueError>(py));
            let looped = py
                .eval(c"(lambda l: (l.append(l), l)[1])([])", None, None)
                .unwrap();
            assert!(to_value(&looped)
                .unwrap_err()
                .is_instance_of::<PyValueError>(py));
        });
    }

    #[test]
    fn sets_become_lists_and_non_string_keys_json_text() {
        Python::initialize();
        Python::attach(|py| {
            let value = Value::from_json_str(r#"{"s": 1}"#).unwrap();
            let mut object = value.clone();
            object.as_object_mut().unwrap().insert(
                Value::from(3i64),
                Value::from(std::collections::BTreeSet::from([
                    Value::from("b"),
                    Value::from("a"),
                ])),
            );
            let back = to_python(py, &object).unwrap();
            assert_eq!(
                back.repr().unwrap().to_string(),
                "{'3': ['a', 'b'], 's': 1}"
            );
            assert!(to_python(py, &Value::Undefined).unwrap().is_none());
        });
    }
}
