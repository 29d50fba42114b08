//! Lookup: by code, by Chinese keyword (substring over name, keywords, category and articles), by
//! pinyin initials (`cx` finds 超限), by category.
//!
//! The index keeps, per code, the newest version's lower-cased text and the pinyin initials of its
//! name and keywords, so a query is one substring scan over prepared strings.

use chrono::NaiveDate;
use pinyin::ToPinyin;
use serde::Serialize;

use super::model::DiscretionItem;
use super::RuleBook;

/// A search hit: enough to list and pick an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ItemSummary {
    pub code: String,
    pub name: String,
    pub category: String,
    pub violated: String,
    pub basis: String,
    /// The statutory penalty in words.
    pub legal: String,
    /// `valid_from` of the newest version.
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    /// How many versions of the code exist.
    pub versions: u32,
    pub verified: bool,
    /// What matched: `code`, `name`, `text` (keywords, category, articles) or `pinyin`.
    pub matched: String,
}

#[derive(Debug, Clone)]
struct Entry {
    item: usize,
    code_lc: String,
    name_lc: String,
    text_lc: String,
    initials: String,
}

/// The prepared search index: every entry's segments (code, name, text, pinyin initials) laid
/// end to end in one string, so a query is a single substring scan (one searcher, not one per
/// field per item).
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    entries: Vec<Entry>,
    /// `code \x1f name \x1f text \x1f initials \n` for every entry.
    all: String,
    /// Per entry: offsets of its code, name, text, initials segments and of its end.
    bounds: Vec<[usize; 5]>,
}

const SEP: char = '\u{1f}';

/// Pinyin initials of the Chinese characters of `s` (ASCII letters and digits kept, lower-cased).
pub fn initials(s: &str) -> String {
    let mut out = String::with_capacity(s.len() / 3 + 1);
    for c in s.chars() {
        if let Some(p) = c.to_pinyin() {
            out.push_str(p.first_letter());
        } else if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn entry_for(i: usize, it: &DiscretionItem) -> Entry {
    let mut initials_s = initials(&it.name);
    for k in &it.keywords {
        initials_s.push('|');
        initials_s.push_str(&initials(k));
    }
    Entry {
        item: i,
        code_lc: it.code.to_lowercase(),
        name_lc: it.name.to_lowercase(),
        text_lc: format!(
            "{}|{}|{}|{}|{}",
            it.keywords.join("|"),
            it.category,
            it.violated,
            it.basis,
            it.legal
        )
        .to_lowercase(),
        initials: initials_s,
    }
}

/// Scores one entry against a lower-cased query: 0 code prefix, 1 name, 2 code or text, 3 pinyin;
/// `None` = no match.
fn score(e: &Entry, q: &str, ascii: bool) -> Option<u8> {
    if e.code_lc.starts_with(q) {
        Some(0)
    } else if e.name_lc.contains(q) {
        Some(1)
    } else if e.code_lc.contains(q) || e.text_lc.contains(q) {
        Some(2)
    } else if ascii && e.initials.contains(q) {
        Some(3)
    } else {
        None
    }
}

const MATCHED: [&str; 4] = ["code", "name", "text", "pinyin"];

impl SearchIndex {
    /// Indexes the newest version of every code.
    pub fn build(items: &[DiscretionItem]) -> SearchIndex {
        let mut newest: std::collections::HashMap<&str, usize> = Default::default();
        for (i, it) in items.iter().enumerate() {
            match newest.get(it.code.as_str()) {
                Some(&j) if items[j].valid_from >= it.valid_from => {}
                _ => {
                    newest.insert(&it.code, i);
                }
            }
        }
        let mut idx: Vec<usize> = newest.into_values().collect();
        idx.sort_by(|&a, &b| items[a].code.cmp(&items[b].code));
        let entries: Vec<Entry> = idx.into_iter().map(|i| entry_for(i, &items[i])).collect();
        let mut all = String::new();
        let mut bounds = Vec::with_capacity(entries.len());
        let clean = |s: &str| s.replace([SEP, '\n'], " ");
        for e in &entries {
            let mut b = [0usize; 5];
            for (k, seg) in [&e.code_lc, &e.name_lc, &e.text_lc, &e.initials]
                .into_iter()
                .enumerate()
            {
                b[k] = all.len();
                all.push_str(&clean(seg));
                all.push(if k == 3 { '\n' } else { SEP });
            }
            b[4] = all.len();
            bounds.push(b);
        }
        SearchIndex {
            entries,
            all,
            bounds,
        }
    }

    /// Item indices matching `query`, best first, with what matched.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, u8)> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        if q.contains([SEP, '\n']) {
            return Vec::new();
        }
        let ascii = q.bytes().all(|b| b.is_ascii_alphanumeric());
        let mut best: Vec<(usize, u8)> = Vec::new();
        // SIMD substring search (memchr); byte offsets are char boundaries since the query is
        // valid UTF-8 and matches whole characters.
        for at in memchr::memmem::find_iter(self.all.as_bytes(), q.as_bytes()) {
            let pos = self
                .bounds
                .partition_point(|b| b[0] <= at)
                .saturating_sub(1);
            let Some(b) = self.bounds.get(pos) else {
                continue;
            };
            let seg = (0..4).rev().find(|&k| b[k] <= at).unwrap_or(0);
            let sc = match seg {
                0 if at == b[0] => 0,
                0 | 2 => 2,
                1 => 1,
                _ if ascii => 3,
                _ => continue,
            };
            match best.last_mut() {
                Some((p, s)) if *p == pos => *s = (*s).min(sc),
                _ => best.push((pos, sc)),
            }
        }
        let mut hits: Vec<(u8, usize, usize)> = best
            .into_iter()
            .map(|(pos, sc)| (sc, pos, self.entries[pos].item))
            .collect();
        hits.sort_unstable();
        hits.truncate(limit);
        hits.into_iter().map(|(s, _, i)| (i, s)).collect()
    }
}

/// The reference for the benchmark: the same matching, preparing every string on each query
/// (no index).
#[doc(hidden)]
pub fn naive_search(items: &[DiscretionItem], query: &str, limit: usize) -> Vec<usize> {
    let q = query.trim().to_lowercase();
    let ascii = q.bytes().all(|b| b.is_ascii_alphanumeric());
    let mut hits: Vec<(u8, usize)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| score(&entry_for(i, it), &q, ascii).map(|s| (s, i)))
        .collect();
    hits.sort_unstable();
    hits.truncate(limit);
    hits.into_iter().map(|(_, i)| i).collect()
}

impl RuleBook {
    fn summary(&self, i: usize, matched: &str) -> ItemSummary {
        let it = self.item_at(i);
        ItemSummary {
            code: it.code.clone(),
            name: it.name.clone(),
            category: it.category.clone(),
            violated: it.violated.clone(),
            basis: it.basis.clone(),
            legal: it.legal.clone(),
            valid_from: it.valid_from,
            valid_to: it.valid_to,
            versions: self.version_indices(&it.code).len() as u32,
            verified: it.verified && it.tiers.iter().all(|t| t.verified),
            matched: matched.to_string(),
        }
    }

    /// Keyword search: code prefix, Chinese substring of name / keywords / category / articles, or
    /// pinyin initials (`cx` → 超限). Newest version of each code, best first.
    pub fn search(&self, query: &str, limit: usize) -> Vec<ItemSummary> {
        self.index
            .search(query, limit)
            .into_iter()
            .map(|(i, s)| self.summary(i, MATCHED[usize::from(s.min(3))]))
            .collect()
    }

    /// The newest version of a code, or a not-found error.
    pub fn item(&self, code: &str) -> crate::Result<&DiscretionItem> {
        self.version_indices(code)
            .last()
            .map(|&i| self.item_at(i))
            .ok_or_else(|| {
                crate::RoadsideError::not_found(
                    "RULE_NOT_FOUND",
                    format!("裁量基准中没有编码 {code}"),
                )
            })
    }

    /// The newest version of every code in `category`, by code.
    pub fn by_category(&self, category: &str) -> Vec<ItemSummary> {
        self.index
            .entries
            .iter()
            .filter(|e| self.item_at(e.item).category == category)
            .map(|e| self.summary(e.item, "category"))
            .collect()
    }

    /// The categories and how many codes each holds.
    pub fn categories(&self) -> Vec<(String, u32)> {
        let mut m: std::collections::BTreeMap<String, u32> = Default::default();
        for e in &self.index.entries {
            *m.entry(self.item_at(e.item).category.clone()).or_default() += 1;
        }
        m.into_iter().collect()
    }
}
