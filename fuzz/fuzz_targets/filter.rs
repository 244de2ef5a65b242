//! Filters from JSON text, as users and the CLI give them: parse, validate, and evaluate
//! against a few payloads. Never a panic; a filter that validates evaluates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use veles::Filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(filter) = Filter::from_json_str(text) else { return };
    if filter.validate().is_err() {
        return;
    }
    let payloads = [
        json!({"a": 1, "b": "x", "c": [1, 2, {"d": null}], "e": {"f": 2.5}}),
        json!({"a": "1", "tags": ["x", "y"], "n": -0.0}),
        json!({}),
    ];
    for p in &payloads {
        let _ = filter.matches(Some(p));
    }
    let _ = filter.matches(None);
    // The JSON form round-trips through the flattened form the WIT interface uses.
    let flat = filter.flatten();
    let back = Filter::from_flat(&flat).expect("a valid filter flattens and comes back");
    for p in &payloads {
        assert_eq!(filter.matches(Some(p)), back.matches(Some(p)));
    }
});
