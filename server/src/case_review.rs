//! 案卷评查: the yearly review of finished case files. A round draws, per unit, at least
//! [`DEFAULT_PER_UNIT`] of the cases it finished in the year (all when fewer) by a seeded draw
//! that anyone can redo from what the round records, and reviewers score each drawn file on the
//! checklist (`data/case_review_checklist.toml`, or the agency's own in the data directory).
//!
//! **The draw** ([`draw`]): the seed is 32 random bytes, recorded (hex) with the round. For each
//! candidate case the key is `SHA-256("roadside case review v1" ‖ 0x00 ‖ seed ‖ unit code ‖ 0x00 ‖
//! case id)`; within each unit the cases with the smallest keys (compared as lowercase hex) are
//! drawn. The candidates are the unit's closed cases opened in the year. Given the seed and the
//! list of candidates, the sample is fixed: [`METHOD`] says the same in words for the record.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};
use crate::storage::ReviewSample;

/// Cases drawn per unit unless the round asks for more.
pub const DEFAULT_PER_UNIT: u32 = 10;

/// The draw's method as recorded with each round.
pub const METHOD: &str = "候选案件：各单位该年度立案且已结案的案件。对每个候选案件计算 \
     SHA-256(\"roadside case review v1\" ‖ 0x00 ‖ 种子（32 字节） ‖ 单位代码 ‖ 0x00 ‖ 案件编号)，\
     各单位按结果的十六进制小写字符串升序抽取前 N 件（不足 N 件时全部抽取）。";

const DOMAIN: &[u8] = b"roadside case review v1\0";

/// The draw key of `case_id` of `unit` under `seed` (lowercase hex).
pub fn draw_key(seed: &[u8; 32], unit: &str, case_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(seed);
    h.update(unit.as_bytes());
    h.update([0u8]);
    h.update(case_id.as_bytes());
    hex::encode(h.finalize())
}

/// Draw up to `per_unit` cases of each unit from `candidates` (unit, case id) under `seed`.
pub fn draw(seed: &[u8; 32], candidates: &[(String, String)], per_unit: u32) -> Vec<ReviewSample> {
    let mut by_unit: BTreeMap<&str, Vec<(String, &str)>> = BTreeMap::new();
    for (unit, case) in candidates {
        by_unit
            .entry(unit)
            .or_default()
            .push((draw_key(seed, unit, case), case));
    }
    let mut out = Vec::new();
    for (unit, mut keyed) in by_unit {
        keyed.sort();
        keyed.dedup_by(|a, b| a.1 == b.1);
        for (i, (key, case)) in keyed.into_iter().take(per_unit as usize).enumerate() {
            out.push(ReviewSample {
                case_id: case.to_string(),
                agency: unit.to_string(),
                position: i as u32 + 1,
                draw_key: key,
            });
        }
    }
    out
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    pub code: String,
    pub name: String,
    pub points: u32,
    pub criteria: String,
    pub basis: String,
}

/// The scoring checklist.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    pub verified: bool,
    #[serde(default)]
    pub note: String,
    pub pass_score: u32,
    #[serde(rename = "item")]
    pub items: Vec<ChecklistItem>,
}

const BUNDLED: &str = include_str!("../data/case_review_checklist.toml");
/// The agency's own checklist, when it keeps one in the data directory.
pub const CHECKLIST_FILE: &str = "case_review_checklist.toml";

impl Checklist {
    /// Read and check a checklist: codes unique, 100 points in all, a pass score within them.
    pub fn from_toml(text: &str) -> Result<Self> {
        let bad = |m: String| ApiError::internal("CHECKLIST_INVALID", m);
        let c: Checklist =
            toml::from_str(text).map_err(|e| bad(format!("案卷评查评分表无法读取：{e}")))?;
        let total: u32 = c.items.iter().map(|i| i.points).sum();
        if total != 100 {
            return Err(bad(format!(
                "案卷评查评分表各项分值合计应为 100，现为 {total}"
            )));
        }
        let mut codes: Vec<&str> = c.items.iter().map(|i| i.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        if codes.len() != c.items.len() {
            return Err(bad("案卷评查评分表的项目编码重复".into()));
        }
        if c.pass_score > total {
            return Err(bad("案卷评查评分表的合格分高于满分".into()));
        }
        Ok(c)
    }

    /// The agency's checklist in `data_dir`, else the bundled one.
    pub fn load(data_dir: &Path) -> Result<Self> {
        match std::fs::read_to_string(data_dir.join(CHECKLIST_FILE)) {
            Ok(text) => Self::from_toml(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::from_toml(BUNDLED),
            Err(e) => Err(ApiError::internal(
                "CHECKLIST_INVALID",
                format!("无法读取案卷评查评分表：{e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_bundled_checklist_is_whole() {
        let c = Checklist::from_toml(BUNDLED).expect("bundled");
        assert_eq!(c.items.len(), 7);
        assert!(
            !c.verified,
            "the points are the agency's defaults, to be confirmed"
        );
        let t = BUNDLED.replace(
            "points = 20\ncriteria = \"立案",
            "points = 21\ncriteria = \"立案",
        );
        assert!(Checklist::from_toml(&t).is_err());
    }

    #[test]
    fn the_draw_key_is_fixed_by_its_inputs() {
        // A known answer computed independently: sha256(b"roadside case review v1\0" + 32 zero
        // bytes + b"632521" + b"\0" + b"case-1").
        let mut h = Sha256::new();
        h.update(b"roadside case review v1\0");
        h.update([0u8; 32]);
        h.update(b"632521\0case-1");
        assert_eq!(
            draw_key(&[0; 32], "632521", "case-1"),
            hex::encode(h.finalize())
        );
        assert_ne!(
            draw_key(&[1; 32], "632521", "case-1"),
            draw_key(&[0; 32], "632521", "case-1")
        );
    }

    proptest! {
        #[test]
        fn a_draw_takes_the_smallest_keys_per_unit_and_no_more(
            seed in any::<[u8; 32]>(),
            cases in proptest::collection::vec((0u8..3, "[a-z0-9]{1,8}"), 0..60),
            per_unit in 1u32..12,
        ) {
            let candidates: Vec<(String, String)> = cases
                .iter()
                .map(|(u, c)| (format!("63252{u}"), c.clone()))
                .collect();
            let drawn = draw(&seed, &candidates, per_unit);
            // The same inputs in any order give the same sample.
            let mut reversed = candidates.clone();
            reversed.reverse();
            prop_assert_eq!(&draw(&seed, &reversed, per_unit), &drawn);
            for u in 0u8..3 {
                let unit = format!("63252{u}");
                let mut all: Vec<String> = candidates
                    .iter()
                    .filter(|(x, _)| *x == unit)
                    .map(|(_, c)| draw_key(&seed, &unit, c))
                    .collect();
                all.sort();
                all.dedup();
                let mine: Vec<&ReviewSample> = drawn.iter().filter(|s| s.agency == unit).collect();
                prop_assert_eq!(mine.len(), all.len().min(per_unit as usize));
                for (i, s) in mine.iter().enumerate() {
                    prop_assert_eq!(&s.draw_key, &all[i]);
                    prop_assert_eq!(s.position as usize, i + 1);
                }
            }
        }
    }
}
