//! RFC 8785 canonical JSON (JCS): one value, one encoding. Every signed or hashed JSON document of
//! Roadside is these bytes; a verifier re-encodes what it parsed and compares.
//!
//! The work is done by the `serde_json_canonicalizer` crate; [`value_to_canonical_vec`] takes a
//! fast path (plain `serde_json` output) for values whose canonical form is exactly that.

use serde_json::Value;

/// Largest integer ECMAScript numbers hold exactly (2⁵³ − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Encode any serialisable value as RFC 8785 canonical JSON; `Err` (the encoder's message) when
/// it has no JSON form (NaN, non-string map keys, duplicate member names).
pub fn to_canonical_vec<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    serde_json_canonicalizer::to_vec(&v).map_err(|e| e.to_string())
}

/// RFC 8785 encoding of a parsed JSON value: the same bytes as [`to_canonical_vec`], faster for
/// the values ledger entries hold.
///
/// Fast path: when every number is an integer within ±(2⁵³−1) and every object's member names are
/// already in strictly increasing order and free of characters at or above U+E000, the canonical
/// form is exactly `serde_json`'s compact output:
/// - such integers are written by ECMAScript as their plain digits, as `serde_json` writes them;
/// - `serde_json` escapes exactly what `JSON.stringify` does (`"`, `\\`, U+0000–U+001F, with
///   `\b \t \n \f \r` by name and lowercase `\u00xx` for the rest) and nothing else;
/// - below U+E000, ordering by UTF-16 code units is ordering by code points, which is ordering by
///   UTF-8 bytes (the only difference between the orders is surrogates against U+E000–U+FFFF).
///
/// Anything else (a fraction, an exponent, a large integer, such a name, members out of order)
/// goes through [`to_canonical_vec`].
pub fn value_to_canonical_vec(value: &Value) -> Result<Vec<u8>, String> {
    if plain(value) {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    } else {
        to_canonical_vec(value)
    }
}

/// Whether `value` takes the fast path of [`value_to_canonical_vec`].
fn plain(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u <= MAX_SAFE_INTEGER,
            (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
            (None, None) => false,
        },
        Value::Array(items) => items.iter().all(plain),
        Value::Object(members) => {
            let mut previous: Option<&str> = None;
            members.iter().all(|(name, v)| {
                let in_order = previous.is_none_or(|p| p < name.as_str())
                    && name.chars().all(|c| c < '\u{E000}');
                previous = Some(name);
                in_order && plain(v)
            })
        }
    }
}

/// Whether `bytes` are exactly the RFC 8785 canonical encoding of the JSON value they hold.
pub fn is_canonical(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => value_to_canonical_vec(&value).is_ok_and(|canonical| canonical == bytes),
        Err(_) => false,
    }
}
