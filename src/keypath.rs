//! Dotted keys (`a.b.0`): the value a payload holds at one, for filters and indexes alike.

use serde_json::Value;

/// The value at a dotted key.
pub(crate) fn lookup<'a>(payload: &'a Value, key: &str) -> Option<&'a Value> {
    let mut at = payload;
    for part in key.split('.') {
        at = match at {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(at)
}
