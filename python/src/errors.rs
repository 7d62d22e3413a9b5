//! The library's errors as Python exceptions: one class per kind of refusal, each carrying the
//! node's error body (`code`, `field`, `details`) as attributes. The mapping is the library's
//! (`qis::wire::ErrorBody::from`), the same one the node and the MCP tools answer with.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::{PyErr, create_exception};
use qis::wire::{Code, ErrorBody};

create_exception!(
    qis,
    QisError,
    PyException,
    "Every qis refusal: `code` (stable, machine-readable), `field` (the argument or packet field at fault, or None), `details` (a dict)."
);
create_exception!(
    qis,
    InvalidPacket,
    QisError,
    "An argument or packet field broke a rule (the message names it and the rule); nothing was stored."
);
create_exception!(
    qis,
    Conflict,
    QisError,
    "A packet id already stored with other content."
);
create_exception!(
    qis,
    Forgotten,
    QisError,
    "A deposit of a packet that was forgotten: refused until it would have expired."
);
create_exception!(
    qis,
    SignatureError,
    QisError,
    "A signature that is missing where required, of an unknown agent, or not the agent's."
);
create_exception!(
    qis,
    NotSupported,
    QisError,
    "The router or the settings cannot do this (no vector search, no embedder, no agents' keys)."
);
create_exception!(
    qis,
    Unavailable,
    QisError,
    "The router is temporarily unavailable; retrying later may succeed."
);
create_exception!(
    qis,
    StorageFull,
    QisError,
    "The router's storage is full (a disk, or a store's quota): nothing of the call was stored, and nothing more can be until space is freed."
);
create_exception!(
    qis,
    NodeClosed,
    QisError,
    "The node was closed: open a new one."
);

/// A refusal as the exception of its kind.
pub(crate) fn raise(body: ErrorBody) -> PyErr {
    let message = body.message.clone();
    let err = match body.code {
        Code::InvalidField
        | Code::DecodeError
        | Code::PacketTooLarge
        | Code::DimensionMismatch
        | Code::BatchTooLarge
        | Code::BodyTooLarge
        | Code::AgentMismatch => InvalidPacket::new_err(message),
        Code::Conflict => Conflict::new_err(message),
        Code::Forgotten => Forgotten::new_err(message),
        Code::SignatureMissing | Code::UnknownSigner | Code::BadSignature => {
            SignatureError::new_err(message)
        }
        Code::NotSupported => NotSupported::new_err(message),
        Code::StorageFull => StorageFull::new_err(message),
        Code::Unavailable | Code::Timeout | Code::RateLimited => Unavailable::new_err(message),
        _ => QisError::new_err(message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("code", body.code.as_str());
        let _ = value.setattr("field", body.field.clone());
        let details = serde_json::to_value(&body.details).unwrap_or_default();
        if let Ok(d) = crate::convert::to_py(py, &details) {
            let _ = value.setattr("details", d);
        }
    });
    err
}

/// A library error: a configuration fault the caller can fix is said as it is.
pub(crate) fn from_qis(e: qis::Error) -> PyErr {
    match e {
        qis::Error::Config(message) => raise(ErrorBody::new(Code::NotSupported, message)),
        other => raise(ErrorBody::from(other)),
    }
}

/// An argument that broke a rule.
pub(crate) fn invalid(field: impl Into<String>, rule: impl Into<String>) -> PyErr {
    raise(ErrorBody::invalid(field, rule))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in [
        ("QisError", py.get_type::<QisError>()),
        ("InvalidPacket", py.get_type::<InvalidPacket>()),
        ("Conflict", py.get_type::<Conflict>()),
        ("Forgotten", py.get_type::<Forgotten>()),
        ("SignatureError", py.get_type::<SignatureError>()),
        ("NotSupported", py.get_type::<NotSupported>()),
        ("Unavailable", py.get_type::<Unavailable>()),
        ("StorageFull", py.get_type::<StorageFull>()),
        ("NodeClosed", py.get_type::<NodeClosed>()),
    ] {
        m.add(name, class)?;
    }
    Ok(())
}
