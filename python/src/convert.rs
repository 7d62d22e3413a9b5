//! Python values to and from JSON values (contexts, results, details), refusing what JSON
//! cannot say (non-string keys, NaN, other objects) with the path of the value at fault.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors::invalid;

/// A Python value (dict, list, tuple, str, int, float, bool, None) as JSON; `path` names it in
/// errors (`context.stage`).
pub(crate) fn to_json(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(invalid(path, "an integer too large for 64 bits"));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let x = f.value();
        return Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| invalid(path, format!("must be a finite number, got {x}")));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = value.cast::<PyDict>() {
        return Ok(Value::Object(object(d, path)?));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            out.push(to_json(&item?, &format!("{path}[{i}]"))?);
        }
        return Ok(Value::Array(out));
    }
    Err(invalid(
        path,
        format!(
            "must be a dict, list, str, number, bool or None, got {}",
            value.get_type().name()?
        ),
    ))
}

/// A dict of string keys as a JSON object.
pub(crate) fn object(d: &Bound<'_, PyDict>, path: &str) -> PyResult<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in d.iter() {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(invalid(
                path,
                format!("keys must be strings, got {}", k.get_type().name()?),
            ));
        };
        let key = key.to_str()?.to_owned();
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        out.insert(key, to_json(&v, &here)?);
    }
    Ok(out)
}

/// A dict argument named `path`, as a JSON object.
pub(crate) fn dict_arg(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Map<String, Value>> {
    match value.cast::<PyDict>() {
        Ok(d) => object(d, path),
        Err(_) => Err(invalid(
            path,
            format!("must be a dict, got {}", value.get_type().name()?),
        )),
    }
}

/// A JSON value as the Python value it reads as.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}
