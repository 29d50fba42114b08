//! A handwritten signature as the shell's signature pad captured it: strokes of points with time
//! and pressure, on a canvas of known size.
//!
//! The strokes are evidence: their canonical bytes ([`SignatureStrokes::canonical_bytes`], RFC 8785
//! JSON through [`crate::jcs`]) are what is hashed ([`SignatureStrokes::sha256_hex`]) and stored,
//! and the same strokes are drawn into the rendered document. Floats are written the way RFC 8785
//! writes numbers (the shortest decimal that reads back as the same `f64`; each `f32` is widened to
//! `f64` exactly first), so parsing the canonical bytes back gives the same `f32` values and the
//! same bytes again.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Issue, Result, RoadsideError};

/// The most points a signature may have (all strokes together). A signature pad samples at
/// 60–240 Hz; a signature of a few seconds has a few hundred to a few thousand points.
pub const MAX_SIGNATURE_POINTS: usize = 20_000;

/// One sampled point of a stroke, in canvas units (origin top left, y downwards).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrokePoint {
    pub x: f32,
    pub y: f32,
    /// Milliseconds since the first point of the signature.
    pub t_ms: u32,
    /// Pen pressure, 0 to 1 (a device without pressure reports a constant, e.g. 0.5).
    pub pressure: f32,
}

/// A whole signature: the capture canvas size and each stroke (pen down to pen up) as its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureStrokes {
    /// Width of the capture canvas, in the units of the points.
    pub width: f32,
    /// Height of the capture canvas.
    pub height: f32,
    pub strokes: Vec<Vec<StrokePoint>>,
}

impl SignatureStrokes {
    /// Checks that the signature can be drawn and hashed: a positive finite canvas, at least one
    /// point, every point finite, on the canvas, with pressure in 0..=1, and no more than
    /// [`MAX_SIGNATURE_POINTS`] points. Every bad point is listed (up to a hundred), each with its
    /// stroke and point index.
    pub fn validate(&self) -> Result<()> {
        let total: usize = self.strokes.iter().map(Vec::len).sum();
        if total > MAX_SIGNATURE_POINTS {
            return Err(RoadsideError::invalid_field(
                "signature.strokes",
                "SIGNATURE_TOO_LARGE",
                format!("签名共 {total} 个采样点，超过上限 {MAX_SIGNATURE_POINTS} 个"),
            ));
        }
        let canvas_ok = |v: f32| v.is_finite() && v > 0.0;
        if !canvas_ok(self.width) || !canvas_ok(self.height) {
            return Err(RoadsideError::invalid_field(
                "signature",
                "SIGNATURE_CANVAS_INVALID",
                format!(
                    "签名画布尺寸无效（宽 {}，高 {}），应为正数",
                    self.width, self.height
                ),
            ));
        }
        if total == 0 {
            return Err(RoadsideError::invalid_field(
                "signature.strokes",
                "SIGNATURE_EMPTY",
                "签名为空：没有任何笔画",
            ));
        }
        let mut issues = Vec::new();
        for (s, stroke) in self.strokes.iter().enumerate() {
            if stroke.is_empty() {
                issues.push(Issue::new(
                    format!("signature.strokes[{s}]"),
                    "SIGNATURE_EMPTY",
                    format!("第 {} 笔没有采样点", s + 1),
                ));
            }
            for (p, pt) in stroke.iter().enumerate() {
                let problem = if !(pt.x.is_finite() && pt.y.is_finite()) {
                    Some("坐标不是有限数".to_string())
                } else if pt.x < 0.0 || pt.x > self.width || pt.y < 0.0 || pt.y > self.height {
                    Some(format!(
                        "坐标 ({}, {}) 超出画布 {}×{}",
                        pt.x, pt.y, self.width, self.height
                    ))
                } else if !(0.0..=1.0).contains(&pt.pressure) {
                    // NaN is not contained in any range, so it is refused here too.
                    Some(format!("压力值 {} 不在 0 至 1 之间", pt.pressure))
                } else {
                    None
                };
                if let Some(what) = problem {
                    issues.push(Issue::new(
                        format!("signature.strokes[{s}][{p}]"),
                        "SIGNATURE_POINT_INVALID",
                        format!("第 {} 笔第 {} 点：{what}", s + 1, p + 1),
                    ));
                }
                if issues.len() >= 100 {
                    return Err(RoadsideError::invalid(issues));
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(RoadsideError::invalid(issues))
        }
    }

    /// The canonical bytes of the signature (RFC 8785 JSON), the form that is hashed and stored.
    /// Fails for a signature that does not [`validate`](Self::validate).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        crate::jcs::to_canonical_vec(self)
    }

    /// Lowercase hex SHA-256 of [`canonical_bytes`](Self::canonical_bytes).
    pub fn sha256_hex(&self) -> Result<String> {
        Ok(hex::encode(Sha256::digest(self.canonical_bytes()?)))
    }

    /// Reads a signature from its JSON (canonical or not) and validates it.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let strokes: SignatureStrokes = serde_json::from_slice(bytes)?;
        strokes.validate()?;
        Ok(strokes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f32, y: f32, t_ms: u32, pressure: f32) -> StrokePoint {
        StrokePoint {
            x,
            y,
            t_ms,
            pressure,
        }
    }

    fn sample() -> SignatureStrokes {
        SignatureStrokes {
            width: 600.0,
            height: 200.0,
            strokes: vec![
                vec![pt(10.0, 20.0, 0, 0.5), pt(30.1, 40.7, 16, 0.61)],
                vec![pt(100.3, 150.9, 400, 0.1), pt(120.0, 160.0, 416, 1.0)],
            ],
        }
    }

    fn codes(e: &RoadsideError) -> Vec<String> {
        let mut c: Vec<String> = e.issues().iter().map(|i| i.code.clone()).collect();
        if c.is_empty() {
            c.push(e.code().to_string());
        }
        c
    }

    #[test]
    fn a_good_signature_validates_and_hashes_stably() {
        let s = sample();
        s.validate().expect("valid");
        let bytes = s.canonical_bytes().expect("bytes");
        assert!(crate::jcs::is_canonical(&bytes));
        let back = SignatureStrokes::from_json(&bytes).expect("parse");
        assert_eq!(back, s, "floats round-trip through the canonical bytes");
        assert_eq!(back.canonical_bytes().expect("bytes"), bytes);
        assert_eq!(
            back.sha256_hex().expect("hash"),
            s.sha256_hex().expect("hash")
        );
        assert_eq!(s.sha256_hex().expect("hash").len(), 64);
    }

    #[test]
    fn empty_signatures_are_refused() {
        let mut s = sample();
        s.strokes.clear();
        assert_eq!(s.validate().unwrap_err().code(), "SIGNATURE_EMPTY");
        s.strokes = vec![vec![]];
        assert_eq!(s.validate().unwrap_err().code(), "SIGNATURE_EMPTY");
        let mut s = sample();
        s.strokes.push(vec![]);
        let e = s.validate().unwrap_err();
        assert_eq!(e.issues()[0].path, "signature.strokes[2]");
        assert!(e.message().contains("第 3 笔"), "{}", e.message());
    }

    #[test]
    fn bad_points_are_named_by_stroke_and_index() {
        let mut s = sample();
        s.strokes[1][1].x = f32::NAN;
        s.strokes[0][1].pressure = 1.5;
        s.strokes[1][0].y = 200.5;
        s.strokes[0][0].x = f32::INFINITY;
        let e = s.validate().unwrap_err();
        assert_eq!(e.code(), "VALIDATION_FAILED");
        assert_eq!(codes(&e), vec!["SIGNATURE_POINT_INVALID"; 4]);
        let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "signature.strokes[0][0]",
                "signature.strokes[0][1]",
                "signature.strokes[1][0]",
                "signature.strokes[1][1]"
            ]
        );
        assert!(e.issues()[1].message.contains("第 1 笔第 2 点"));
        assert!(e.issues()[1].message.contains("压力值"));
        assert!(e.issues()[2].message.contains("超出画布"));
        let mut s = sample();
        s.strokes[0][0].pressure = f32::NAN;
        assert_eq!(s.validate().unwrap_err().code(), "SIGNATURE_POINT_INVALID");
        assert!(s.canonical_bytes().is_err());
    }

    #[test]
    fn a_bad_canvas_and_too_many_points_are_refused() {
        let mut s = sample();
        s.width = 0.0;
        assert_eq!(s.validate().unwrap_err().code(), "SIGNATURE_CANVAS_INVALID");
        s.width = f32::NAN;
        assert_eq!(s.validate().unwrap_err().code(), "SIGNATURE_CANVAS_INVALID");
        let mut s = sample();
        s.strokes = vec![vec![pt(1.0, 1.0, 0, 0.5); MAX_SIGNATURE_POINTS / 2 + 1]; 2];
        assert_eq!(s.validate().unwrap_err().code(), "SIGNATURE_TOO_LARGE");
        s.strokes[1].pop();
        s.strokes[1].pop();
        s.validate().expect("exactly the limit is allowed");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = SignatureStrokes::from_json(
            br#"{"width":10,"height":10,"strokes":[[{"x":1,"y":1,"t_ms":0,"pressure":0.5,"tilt":3}]]}"#,
        )
        .unwrap_err();
        assert_eq!(e.code(), "JSON_SCHEMA");
    }
}
