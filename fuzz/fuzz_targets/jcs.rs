//! JCS (RFC 8785) on any JSON: the fast and the general encoder agree, the output is canonical and
//! encodes again to itself, and `is_canonical` accepts exactly the canonical encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roadside_core::jcs;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        assert!(!jcs::is_canonical(data), "non-JSON accepted as canonical");
        return;
    };
    let fast = jcs::value_to_canonical_vec(&value);
    let general = jcs::to_canonical_vec(&value);
    match (&fast, &general) {
        (Ok(f), Ok(g)) => assert_eq!(f, g, "fast path and general encoder differ"),
        (Err(_), Err(_)) => {}
        _ => panic!("one encoder failed and the other did not: {fast:?} / {general:?}"),
    }
    let Ok(canonical) = fast else {
        return;
    };
    assert!(jcs::is_canonical(&canonical), "own output not canonical");
    let reparsed: Value = match serde_json::from_slice(&canonical) {
        Ok(v) => v,
        Err(e) => panic!("canonical output does not parse: {e}"),
    };
    match jcs::value_to_canonical_vec(&reparsed) {
        Ok(again) => assert_eq!(again, canonical, "canonical output re-encodes differently"),
        Err(e) => panic!("canonical output cannot be re-encoded: {e:?}"),
    }
    if !has_number(&value) {
        // Without numbers (which JCS turns into doubles) the value survives exactly.
        assert_eq!(reparsed, value, "canonical output parses to another value");
    }
    assert_eq!(
        jcs::is_canonical(data),
        data == canonical.as_slice(),
        "is_canonical disagrees with the encoder"
    );
});

fn has_number(v: &Value) -> bool {
    match v {
        Value::Number(_) => true,
        Value::Array(items) => items.iter().any(has_number),
        Value::Object(members) => members.values().any(has_number),
        _ => false,
    }
}
