//! Canonical JSON: the JSON Canonicalization Scheme (JCS, [RFC 8785]).
//!
//! # Why JCS
//!
//! Every signed or hashed JSON document in Roadside (ledger entries above all) is encoded once, as
//! JCS bytes, and those exact bytes are stored, sent, hashed and signed. JCS was chosen over an
//! ad-hoc "sorted keys, no spaces" rule or a binary format because:
//!
//! - it is a published, stable specification with independent implementations in every language a
//!   verifier might be written in (a court's expert, an auditor's script, the server), so nobody has
//!   to reverse-engineer our rules to check a signature;
//! - the bytes stay ordinary JSON: readable in a log, a support ticket or a court exhibit;
//! - it removes every free choice a JSON encoder has, so one value has exactly one encoding.
//!
//! # What it guarantees
//!
//! For the same JSON value the output is byte-for-byte the same, whoever produces it:
//!
//! - no whitespace between tokens;
//! - object members sorted by their names compared as arrays of **UTF-16 code units** (not UTF-8
//!   bytes and not locale collation), recursively; array order is kept;
//! - strings as UTF-8 with the minimal escaping of ECMAScript `JSON.stringify`: only `"`, `\` and the
//!   controls U+0000–U+001F are escaped (`\b \t \n \f \r` by name, the others as lowercase `\u00xx`);
//!   everything else, Chinese included, is written raw;
//! - numbers as IEEE-754 doubles written the ECMAScript `Number.prototype.toString` way: the shortest
//!   text that reads back as the same double (`4.50` → `4.5`, `1e30` → `1e+30`, `-0` → `0`).
//!
//! Consequences worth knowing:
//!
//! - **Numbers are doubles.** An integer beyond ±(2⁵³−1) cannot survive; NaN and ±∞ cannot be encoded
//!   at all (an error). Put identifiers, money in 分 beyond that range, hashes and the like in
//!   strings. [`crate::ledger::seal`] refuses such integers rather than let them be rounded.
//! - Canonicalisation is *not* validation: it does not know which fields a document should have.
//! - Duplicate member names are not I-JSON; [`is_canonical`] rejects them (parsing keeps one of the
//!   two, so the re-encoding differs from the input).
//!
//! The work is done by the `serde_json_canonicalizer` crate (tested against the RFC's examples and
//! the reference implementation's 100-million-number corpus); this module is the one place Roadside
//! calls it, and pins the RFC's own examples in its tests.
//!
//! [RFC 8785]: https://www.rfc-editor.org/rfc/rfc8785

use serde::Serialize;

use crate::error::{Result, RoadsideError};

/// Encode `v` as RFC 8785 canonical JSON.
///
/// Fails (code `JCS_UNREPRESENTABLE`) when the value has no JSON form: a NaN or infinite float, a
/// map whose keys are not strings, or two members with the same name.
pub fn to_canonical_vec<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serde_json_canonicalizer::to_vec(&v).map_err(|e| {
        RoadsideError::invalid_field(
            "$",
            "JCS_UNREPRESENTABLE",
            format!("无法生成规范 JSON（RFC 8785）：{e}"),
        )
    })
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
/// goes through [`to_canonical_vec`]. The two agree on every value: a property test checks it.
/// The code is the verifier's (`roadside_verify::canonical`), so a third party's verifier encodes
/// exactly as the device does.
pub fn value_to_canonical_vec(value: &serde_json::Value) -> Result<Vec<u8>> {
    roadside_verify::canonical::value_to_canonical_vec(value).map_err(|e| {
        RoadsideError::invalid_field(
            "$",
            "JCS_UNREPRESENTABLE",
            format!("无法生成规范 JSON（RFC 8785）：{e}"),
        )
    })
}

/// Whether `bytes` are exactly the RFC 8785 canonical encoding of the JSON value they hold.
///
/// `false` for anything that is not UTF-8 JSON, and for JSON that is valid but not canonical (extra
/// whitespace, unsorted members, `1.0` instead of `1`, needless escapes, duplicate member names, a
/// byte-order mark…).
pub fn is_canonical(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => value_to_canonical_vec(&value).is_ok_and(|canonical| canonical == bytes),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Parse JSON text, then canonicalise it.
    fn canon_text(text: &str) -> String {
        let value: Value = serde_json::from_str(text).expect("test input parses");
        String::from_utf8(to_canonical_vec(&value).expect("canonicalises")).expect("UTF-8")
    }

    /// RFC 8785 §3.2.2 input and §3.2.3 output (also given as hex in §3.2.4).
    #[test]
    fn rfc8785_example_3_2_2() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert_eq!(canon_text(input), expected);
        assert!(is_canonical(expected.as_bytes()));
        assert!(!is_canonical(input.as_bytes()));
    }

    /// RFC 8785 §3.2.4: the UTF-8 bytes of the §3.2.2 example's canonical form, in hex.
    #[test]
    fn rfc8785_example_bytes_3_2_4() {
        let expected_hex: String = "\
            7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 \
            75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a \
            5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 \
            65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 \
            5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 \
            30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
            .split_whitespace()
            .collect();
        let value = json!({
            "numbers": [333_333_333.333_333_3_f64, 1e30, 4.5, 2e-3, 1e-27],
            "string": "€$\u{f}\nA'B\"\\\\\"/",
            "literals": [null, true, false],
        });
        let bytes = to_canonical_vec(&value).expect("canonicalises");
        assert_eq!(hex::encode(bytes), expected_hex);
    }

    /// RFC 8785 §3.2.3: members sorted by UTF-16 code units.
    #[test]
    fn rfc8785_sorting_example_3_2_3() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
            \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
            \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon_text(input), expected);
        // UTF-8 byte order would put the emoji (F0 9F…) after the Hebrew letter (EF AC…).
        let emoji = expected.find('\u{1f600}').expect("emoji present");
        let dalet = expected.find('\u{fb33}').expect("dalet present");
        assert!(emoji < dalet);
    }

    /// The same object with `"</script>"` added (from the JCS reference implementation's test data):
    /// `<` (U+003C) sorts after `1` and before U+0080, and is not escaped.
    #[test]
    fn sorting_with_script_key() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis",
          "</script>": "Browser Challenge"
        }"#;
        let value: Value = serde_json::from_str(input).expect("parses");
        let keys: Vec<String> = {
            let out = canon_text(input);
            let back: serde_json::Map<String, Value> = serde_json::from_str(&out).expect("parses");
            // serde_json's map does not keep order; read the keys off the text instead.
            let mut found: Vec<(usize, String)> = back
                .keys()
                .map(|k| {
                    let quoted = serde_json::to_string(k).expect("key encodes");
                    (
                        out.find(&format!("{quoted}:")).expect("key in output"),
                        k.clone(),
                    )
                })
                .collect();
            found.sort();
            found.into_iter().map(|(_, k)| k).collect()
        };
        assert_eq!(
            keys,
            [
                "\r",
                "1",
                "</script>",
                "\u{80}",
                "\u{f6}",
                "\u{20ac}",
                "\u{1f600}",
                "\u{fb33}"
            ]
        );
        let out = String::from_utf8(to_canonical_vec(&value).expect("ok")).expect("UTF-8");
        assert!(out.contains("\"</script>\":\"Browser Challenge\""));
    }

    /// RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let cases: &[(u64, &str)] = &[
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xc340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5554, "333333333.33333325"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0x41b3_de43_5555_5556, "333333333.3333334"),
            (0x41b3_de43_5555_5557, "333333333.33333343"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ];
        for &(bits, expected) in cases {
            let got = to_canonical_vec(&f64::from_bits(bits)).expect("finite");
            assert_eq!(String::from_utf8_lossy(&got), expected, "bits {bits:016x}");
        }
    }

    /// Number texts as they arrive in JSON documents.
    #[test]
    fn number_text_examples() {
        for (input, expected) in [
            ("1e30", "1e+30"),
            ("1E30", "1e+30"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("333333333.33333329", "333333333.3333333"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("100", "100"),
            ("1.0", "1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
        ] {
            assert_eq!(canon_text(input), expected, "input {input}");
        }
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = to_canonical_vec(&x).expect_err("no JSON form");
            assert_eq!(err.code(), "JCS_UNREPRESENTABLE");
        }
    }

    #[test]
    fn strings_escape_only_what_json_stringify_escapes() {
        let value = json!("苏A·12345\u{0}\u{1f}\u{7f}\t\"\\/</");
        let out = String::from_utf8(to_canonical_vec(&value).expect("ok")).expect("UTF-8");
        assert_eq!(out, "\"苏A·12345\\u0000\\u001f\u{7f}\\t\\\"\\\\/</\"");
    }

    #[test]
    fn is_canonical_rejects_near_misses() {
        assert!(is_canonical(br#"{"a":1,"b":[true,null]}"#));
        assert!(is_canonical(b"1"));
        for bad in [
            &br#"{"b":1,"a":2}"#[..],     // unsorted
            br#"{"a": 1}"#,               // whitespace
            br#"{"a":1} "#,               // trailing whitespace
            br#"{"a":1.0}"#,              // number not in shortest form
            br#"{"a":"\u0041"}"#,         // needless escape
            br#"{"a":"\/"}"#,             // needless escape
            br#"{"a":1,"a":1}"#,          // duplicate member
            b"\xef\xbb\xbf{\"a\":1}",     // byte-order mark
            br#"{"a":9007199254740993}"#, // integer a double cannot hold
            b"{\"a\":\"\xff\"}",          // not UTF-8
            b"",                          // empty
            br#"{"a":1"#,                 // truncated
        ] {
            assert!(!is_canonical(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn unsized_values_canonicalise() {
        let s: &str = "€";
        assert_eq!(to_canonical_vec(s).expect("ok"), "\"€\"".as_bytes());
        let slice: &[u32] = &[3, 1, 2];
        assert_eq!(to_canonical_vec(slice).expect("ok"), b"[3,1,2]");
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Canonical output is canonical, and canonicalising it again changes nothing.
        #[test]
        fn canonicalising_is_idempotent(value in arb_json()) {
            let once = to_canonical_vec(&value).expect("finite values always encode");
            prop_assert!(is_canonical(&once));
            let reparsed: Value = serde_json::from_slice(&once).expect("canonical output parses");
            let twice = to_canonical_vec(&reparsed).expect("encodes");
            prop_assert_eq!(once, twice);
        }

        /// The order members are written in does not change the canonical form.
        #[test]
        fn member_order_does_not_matter(
            members in prop::collection::btree_map(any::<String>(), arb_json(), 0..8),
            seed in any::<u64>(),
        ) {
            let members: Vec<(String, Value)> = members.into_iter().collect();
            let write = |order: &[usize]| -> String {
                let parts: Vec<String> = order
                    .iter()
                    .map(|&i| {
                        let (k, v) = &members[i];
                        format!(
                            "{}: {}",
                            serde_json::to_string(k).expect("key"),
                            serde_json::to_string_pretty(v).expect("value")
                        )
                    })
                    .collect();
                format!("{{ {} }}", parts.join(" ,\n "))
            };
            let forward: Vec<usize> = (0..members.len()).collect();
            let mut shuffled = forward.clone();
            // A deterministic Fisher–Yates shuffle driven by the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let reversed: Vec<usize> = forward.iter().rev().copied().collect();
            let a = canon_text(&write(&forward));
            prop_assert_eq!(&a, &canon_text(&write(&shuffled)));
            prop_assert_eq!(&a, &canon_text(&write(&reversed)));
            prop_assert!(is_canonical(a.as_bytes()));
        }

        /// The fast path and the full encoder agree on every value, including values whose
        /// member names sort differently by UTF-16 and by UTF-8 (supplementary characters against
        /// U+E000–U+FFFF) and integers at the edge of the exact range.
        #[test]
        fn fast_path_agrees_with_the_full_encoder(value in arb_json(), edge in prop_oneof![
            Just(json!({"\u{FF61}": 1, "\u{1F600}": 2})),
            Just(json!({"a": 9_007_199_254_740_991_i64, "b": -9_007_199_254_740_991_i64})),
            Just(json!([9_007_199_254_740_992_u64, 18_446_744_073_709_551_615_u64, -0.0, 1.5e300])),
            Just(json!({"z": {"b\u{0}\u{1f}\"\\/\u{7f}": [true, null]}, "a": "记录"})),
        ]) {
            for v in [&value, &edge] {
                prop_assert_eq!(
                    value_to_canonical_vec(v).expect("finite"),
                    to_canonical_vec(v).expect("finite")
                );
            }
        }

        /// Every finite double is written so that it reads back as the same double.
        #[test]
        fn numbers_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let text = String::from_utf8(to_canonical_vec(&x).expect("finite")).expect("UTF-8");
            let back: f64 = text.parse().expect("a JSON number parses as f64");
            prop_assert_eq!(back, x, "{}", text);
        }
    }
}
