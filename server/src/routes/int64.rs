//! A non-negative whole number the API describes as JSON Schema `integer` / `int64`: what the
//! description promises is what is accepted. An integral number is whole however it is written
//! (`2` or `2.0`, as JSON Schema counts it); a fraction, a negative number and anything above
//! `i64::MAX` (the largest `int64`, and what the databases store) are refused. Query strings carry
//! the number as text.
//!
//! `#[serde(with = "crate::routes::int64")]` for a `u64` of a JSON body, `…::int64::option` for an
//! `Option<u64>`; `…::int64::query` for an `Option<u64>` of a query string.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;

/// `TEXT`: the number may come as text (query strings), not in JSON.
struct NonNegInt64<const TEXT: bool>;

const EXPECTED: &str = "a whole number from 0 to 9223372036854775807";

impl<'de, const TEXT: bool> Visitor<'de> for NonNegInt64<TEXT> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(EXPECTED)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v > i64::MAX as u64 {
            return Err(E::invalid_value(de::Unexpected::Unsigned(v), &EXPECTED));
        }
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &EXPECTED))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // 2^63 is the first f64 above i64::MAX.
        if v.is_finite() && v.fract() == 0.0 && (0.0..9_223_372_036_854_775_808.0).contains(&v) {
            Ok(v as u64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &EXPECTED))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        match v.parse::<u64>() {
            Ok(n) if TEXT => self.visit_u64(n),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &EXPECTED)),
        }
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(NonNegInt64::<false>)
}

pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(*v)
}

/// The same for an optional field (absent or `null` = `None`).
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    struct Wrap(#[serde(with = "super")] u64);

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_some(n),
            None => s.serialize_none(),
        }
    }
}

/// An optional number of a query string (absent = `None`).
pub mod query {
    use serde::{Deserialize, Deserializer};

    struct Text(u64);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(super::NonNegInt64::<true>).map(Text)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Text>::deserialize(d)?.map(|t| t.0))
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct T {
        #[serde(with = "super")]
        n: u64,
        #[serde(default, with = "super::option")]
        o: Option<u64>,
    }

    fn json(s: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn whole_numbers_up_to_int64_max_and_nothing_else() {
        assert_eq!(json(r#"{"n": 5}"#).unwrap(), T { n: 5, o: None });
        assert_eq!(json(r#"{"n": 5.0, "o": 7}"#).unwrap().o, Some(7));
        assert_eq!(
            json(r#"{"n": 9223372036854775807}"#).unwrap().n,
            i64::MAX as u64
        );
        for bad in [
            r#"{"n": 9223372036854775808}"#,
            r#"{"n": -1}"#,
            r#"{"n": 1.5}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "5"}"#,
            r#"{"n": 1, "o": -3}"#,
        ] {
            assert!(json(bad).is_err(), "{bad}");
        }
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Q {
        #[serde(default, with = "super::query")]
        after: Option<u64>,
    }

    #[test]
    fn query_strings_carry_the_number_as_text() {
        let q = |s: &str| serde_urlencoded::from_str::<Q>(s);
        assert_eq!(q("after=12").unwrap().after, Some(12));
        assert_eq!(q("").unwrap().after, None);
        for bad in [
            "after=9223372036854775808",
            "after=-2",
            "after=1.5",
            "after=x",
        ] {
            assert!(q(bad).is_err(), "{bad}");
        }
    }
}
