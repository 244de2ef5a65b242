//! JSON payloads: validation and storage form.
//!
//! A payload is a JSON object. It is stored as compact JSON text (serde_json, keys sorted), and
//! parsed back with serde_json, whose recursion limit keeps hostile bytes from overflowing the
//! stack. Limits are checked before anything recursive touches a caller's value.

use crate::error::{Error, Limit, Result};
use serde_json::Value;

/// The largest payload, as compact JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// The deepest nesting of arrays and objects in a payload.
pub const MAX_PAYLOAD_DEPTH: usize = 32;

/// Nesting depth of a value, computed without recursion (a caller's value may be arbitrarily
/// deep; `1` for a scalar).
pub(crate) fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|x| (x, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// Checks a payload and returns its storage form.
pub(crate) fn encode(id: Option<u64>, payload: &Value) -> Result<String> {
    if !payload.is_object() {
        return Err(Error::InvalidPayload {
            id,
            reason: "a payload must be a JSON object".into(),
        });
    }
    let d = depth(payload);
    if d > MAX_PAYLOAD_DEPTH {
        return Err(Error::LimitExceeded {
            limit: Limit::PayloadDepth,
            max: MAX_PAYLOAD_DEPTH as u64,
            actual: d as u64,
        });
    }
    let text = serde_json::to_string(payload).map_err(|e| Error::InvalidPayload {
        id,
        reason: e.to_string(),
    })?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::LimitExceeded {
            limit: Limit::PayloadBytes,
            max: MAX_PAYLOAD_BYTES as u64,
            actual: text.len() as u64,
        });
    }
    Ok(text)
}

/// The fields a `set_payload` merges, from a caller's JSON text: a JSON object within the
/// payload limits (for APIs where they cross as text).
pub fn parse_fields(text: &str) -> Result<serde_json::Map<String, Value>> {
    match parse(None, text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::InvalidArgument(
            "fields must be a JSON object".into(),
        )),
        Err(e) => Err(e),
    }
}

/// Parses a caller's JSON text into a payload (for APIs where payloads cross as text).
pub fn parse(id: Option<u64>, text: &str) -> Result<Value> {
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::LimitExceeded {
            limit: Limit::PayloadBytes,
            max: MAX_PAYLOAD_BYTES as u64,
            actual: text.len() as u64,
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| Error::InvalidPayload {
        id,
        reason: e.to_string(),
    })?;
    encode(id, &value)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_must_be_objects_within_limits() {
        assert!(encode(None, &json!({"a": [1, {"b": null}]})).is_ok());
        assert!(matches!(
            encode(Some(1), &json!([1, 2])),
            Err(Error::InvalidPayload { id: Some(1), .. })
        ));
        assert!(matches!(
            parse(None, "{not json"),
            Err(Error::InvalidPayload { .. })
        ));
        // Built by hand: `json!` would serialise the inner value recursively.
        let mut deep = json!(1);
        for _ in 0..100_000 {
            let mut m = serde_json::Map::new();
            m.insert("x".into(), deep);
            deep = Value::Object(m);
        }
        assert!(matches!(
            encode(None, &deep),
            Err(Error::LimitExceeded {
                limit: Limit::PayloadDepth,
                ..
            })
        ));
        // serde_json's own Drop of such a value recurses; keep the test from overflowing.
        std::mem::forget(deep);
        let big = json!({ "s": "x".repeat(MAX_PAYLOAD_BYTES) });
        assert!(matches!(
            encode(None, &big),
            Err(Error::LimitExceeded {
                limit: Limit::PayloadBytes,
                ..
            })
        ));
        let nested_text = "[".repeat(5000) + &"]".repeat(5000);
        assert!(parse(None, &nested_text).is_err());
    }
}
