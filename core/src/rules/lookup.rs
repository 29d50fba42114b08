//! Lookup: by code, by Chinese keyword, by pinyin initials (`cx` finds 超限), by category.
//!
//! # Ranking
//!
//! An officer at the roadside searches by the code on a form, by the violation's name or its
//! everyday word (超载, 遗洒, 黑车), or by the pinyin initials of either (`cz`, `ys`). Every
//! occurrence of the query in one of an item's terms is ranked, and the item takes its best:
//!
//! 0. the whole code (`cx-43-2`);
//! 1. the start of the code (`cx` → CX-43-…, `dy-63` → DY-63-…);
//! 2. the violation named: the whole name or its start, a whole keyword, the initials of the start
//!    of the name, the initials of a whole keyword (`ys` = 遗洒);
//! 3. part of a term: the start or end of a keyword or of a keyword's initials (a keyword joins
//!    words: 指使 + 超限, so `cx` at the end of `zscx` is the word 超限), the inside of a keyword, of
//!    the name or of the code;
//! 4. the rest: category, articles, statutory penalty, and initials met inside a name or keyword
//!    (`cx` inside 班次行驶 is a coincidence of initials, not the word 超限).
//!
//! Codes matched by their start are listed in code order (in force before repealed). Within ranks
//! 2 and 3: a match at a term's start or end before one inside it; then the shorter term, as the
//! query says more of it (`无证` is half of 无证经营, a third of 无证车辆进站); then an item whose
//! name contains the query too; then the earlier keyword (the benchmark lists first the word an
//! item is commonly called by at the roadside, so that word outranks its other terms); then items
//! in force before repealed ones; then by code. Within the rest: an item whose name holds the
//! query first, then in force before repealed, then by code. Nothing depends on a particular
//! query.
//!
//! The index keeps, per code, the newest version's terms lower-cased and the pinyin initials of
//! its name and keywords, laid end to end in one string, so a query is one substring scan; each
//! occurrence is then placed in its term by a search forward from the previous one's.

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
    /// What the best match was in: `code`, `name`, `keyword`, `text` (category, articles,
    /// statutory penalty) or `pinyin` (initials of the name or a keyword); `category` when listed
    /// by category.
    pub matched: String,
}

/// Where a term of an item comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Code,
    Name,
    /// The keyword at this place in the item's list.
    Keyword(u8),
    /// Category, violated article, applied article, statutory penalty.
    Text,
    NameInitials,
    /// The initials of the keyword at this place.
    KeywordInitials(u8),
}

impl Field {
    fn matched(self) -> &'static str {
        match self {
            Field::Code => "code",
            Field::Name => "name",
            Field::Keyword(_) => "keyword",
            Field::Text => "text",
            Field::NameInitials | Field::KeywordInitials(_) => "pinyin",
        }
    }

    fn keyword_place(self) -> u8 {
        match self {
            Field::Keyword(k) | Field::KeywordInitials(k) => k,
            _ => 0,
        }
    }

    fn in_name(self) -> bool {
        matches!(self, Field::Name | Field::NameInitials)
    }
}

/// The ranks (see the module's documentation), best first.
const CODE_EXACT: u8 = 0;
const CODE_PREFIX: u8 = 1;
const NAMED: u8 = 2;
const PART: u8 = 3;
const REST: u8 = 4;

/// How one occurrence of the query in a term ranks; smaller is better. Field order = precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Quality {
    rank: u8,
    /// Inside the term rather than at its start (or a keyword's end).
    inside: bool,
    /// The term's length in characters (shorter: the query says more of it).
    chars: u16,
    /// The keyword's place in the item's list (0 for other fields).
    place: u8,
}

/// `at_start`: the occurrence begins where the term does; `at_end`: the term ends with the query;
/// `whole`: the term is the query.
fn quality(field: Field, at_start: bool, at_end: bool, whole: bool, chars: u16) -> Quality {
    let (rank, inside) = match field {
        Field::Code if whole => (CODE_EXACT, false),
        Field::Code if at_start => (CODE_PREFIX, false),
        Field::Name | Field::NameInitials if at_start => (NAMED, false),
        Field::Keyword(_) | Field::KeywordInitials(_) if whole => (NAMED, false),
        Field::Keyword(_) | Field::KeywordInitials(_) if at_start || at_end => (PART, false),
        Field::Code | Field::Name | Field::Keyword(_) => (PART, true),
        Field::Text | Field::NameInitials | Field::KeywordInitials(_) => (REST, true),
    };
    if rank == REST {
        // In the rest, term lengths and keyword places say nothing (see `sort_key`).
        Quality {
            rank,
            inside,
            chars: 0,
            place: 0,
        }
    } else {
        Quality {
            rank,
            inside,
            chars,
            place: field.keyword_place(),
        }
    }
}

/// An item's place in the results: its best match, then (within equal matches) the name also
/// matching, its keyword's place, in force before repealed, and the code order (`pos`).
type SortKey = (u8, bool, u16, bool, u8, bool, usize);

fn sort_key(best: Quality, in_name: bool, repealed: bool, pos: usize) -> SortKey {
    if best.rank <= CODE_PREFIX {
        // Codes are listed in code order: GL-76-1 … GL-81 for `gl`.
        return (best.rank, false, 0, false, 0, repealed, pos);
    }
    (
        best.rank,
        best.inside,
        best.chars,
        !in_name,
        best.place,
        repealed,
        pos,
    )
}

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

const SEP: char = '\u{1f}';

fn place(k: usize) -> u8 {
    u8::try_from(k).unwrap_or(u8::MAX)
}

fn char_count(s: &str) -> u16 {
    u16::try_from(s.chars().count()).unwrap_or(u16::MAX)
}

/// The searchable terms of one item, lower-cased, without separators, empty ones left out.
fn terms_of(it: &DiscretionItem) -> Vec<(Field, String)> {
    let clean = |s: &str| s.to_lowercase().replace(SEP, " ");
    let mut terms = vec![
        (Field::Code, clean(&it.code)),
        (Field::Name, clean(&it.name)),
    ];
    for (k, w) in it.keywords.iter().enumerate() {
        terms.push((Field::Keyword(place(k)), clean(w)));
    }
    for t in [&it.category, &it.violated, &it.basis, &it.legal] {
        terms.push((Field::Text, clean(t)));
    }
    terms.push((Field::NameInitials, initials(&it.name)));
    for (k, w) in it.keywords.iter().enumerate() {
        terms.push((Field::KeywordInitials(place(k)), initials(w)));
    }
    terms.retain(|(_, t)| !t.is_empty());
    terms
}

/// One term in the index's string.
#[derive(Debug, Clone)]
struct Term {
    start: usize,
    len: usize,
    chars: u16,
    field: Field,
    /// Its entry (position in `SearchIndex::items`).
    entry: usize,
}

/// The prepared search index: the terms of every entry laid end to end in one string, so a query
/// is a single substring scan (one searcher, not one per term per item).
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    /// Per entry, by code: the item index of the code's newest version.
    items: Vec<usize>,
    /// Per entry: the newest version has a last day in force.
    repealed: Vec<bool>,
    /// `term \x1f term \x1f …` over every entry's terms.
    all: String,
    /// Every term, by `start` ascending.
    terms: Vec<Term>,
}

/// An entry's best match so far.
struct Best {
    entry: usize,
    quality: Quality,
    field: Field,
    in_name: bool,
}

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
        let mut all = String::new();
        let mut terms = Vec::new();
        for (entry, &i) in idx.iter().enumerate() {
            for (field, t) in terms_of(&items[i]) {
                terms.push(Term {
                    start: all.len(),
                    len: t.len(),
                    chars: char_count(&t),
                    field,
                    entry,
                });
                all.push_str(&t);
                all.push(SEP);
            }
        }
        SearchIndex {
            repealed: idx.iter().map(|&i| items[i].valid_to.is_some()).collect(),
            items: idx,
            all,
            terms,
        }
    }

    /// Item indices matching `query`, best first (see the module's documentation), with what the
    /// best match was in.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, &'static str)> {
        let q = query.trim().to_lowercase();
        if q.is_empty() || q.contains(SEP) {
            return Vec::new();
        }
        let mut best: Vec<Best> = Vec::new();
        // SIMD substring search (memchr). The query holds no separator, so each occurrence lies in
        // one term, and the first occurrence in every term is reported (later ones can only
        // overlap earlier ones of the same term); whether the term ends with the query is read
        // off the term itself. Terms are in entry order, so an entry's occurrences are
        // consecutive.
        let mut k = 0;
        for at in memchr::memmem::find_iter(self.all.as_bytes(), q.as_bytes()) {
            k = term_at(&self.terms, k, at);
            let Some(t) = self.terms.get(k) else {
                continue;
            };
            let end = t.start + t.len;
            let at_end = t.len >= q.len()
                && self.all.as_bytes().get(end - q.len()..end) == Some(q.as_bytes());
            let qu = quality(
                t.field,
                at == t.start,
                at_end,
                at == t.start && q.len() == t.len,
                t.chars,
            );
            match best.last_mut() {
                Some(b) if b.entry == t.entry => {
                    if qu < b.quality {
                        b.quality = qu;
                        b.field = t.field;
                    }
                    b.in_name |= t.field.in_name();
                }
                _ => best.push(Best {
                    entry: t.entry,
                    quality: qu,
                    field: t.field,
                    in_name: t.field.in_name(),
                }),
            }
        }
        let mut hits: Vec<(SortKey, usize, Field)> = best
            .into_iter()
            .map(|b| {
                let repealed = self.repealed.get(b.entry).copied().unwrap_or(false);
                (
                    sort_key(b.quality, b.in_name, repealed, b.entry),
                    b.entry,
                    b.field,
                )
            })
            .collect();
        // Only the first `limit` are put in order (the keys are unique: the entry is the last).
        if hits.len() > limit {
            hits.select_nth_unstable_by_key(limit, |h| h.0);
            hits.truncate(limit);
        }
        hits.sort_unstable_by_key(|h| h.0);
        hits.into_iter()
            .filter_map(|(_, e, f)| self.items.get(e).map(|&i| (i, f.matched())))
            .collect()
    }
}

/// The term holding byte `at`, searched forward from term `from` (occurrences come in ascending
/// order): steps doubling until past `at`, then bisection. `terms[0]` starts at 0.
fn term_at(terms: &[Term], from: usize, at: usize) -> usize {
    let mut lo = from.min(terms.len().saturating_sub(1));
    let mut step = 1;
    let mut hi = lo + 1;
    while hi < terms.len() && terms[hi].start <= at {
        lo = hi;
        hi = lo + step;
        step *= 2;
    }
    let hi = hi.min(terms.len());
    lo + terms[lo..hi]
        .partition_point(|t| t.start <= at)
        .saturating_sub(1)
}

/// The reference for the benchmark and the tests: the same ranking, preparing every term of every
/// item on each query (no index).
#[doc(hidden)]
pub fn naive_search(items: &[DiscretionItem], query: &str, limit: usize) -> Vec<usize> {
    let q = query.trim().to_lowercase();
    if q.is_empty() || q.contains(SEP) {
        return Vec::new();
    }
    let mut hits: Vec<(SortKey, usize)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            let mut best: Option<Quality> = None;
            let mut in_name = false;
            for (field, term) in terms_of(it) {
                if let Some(at) = term.find(&q) {
                    let qu = quality(
                        field,
                        at == 0,
                        term.ends_with(q.as_str()),
                        term == q,
                        char_count(&term),
                    );
                    in_name |= field.in_name();
                    if best.is_none_or(|b| qu < b) {
                        best = Some(qu);
                    }
                }
            }
            best.map(|b| (sort_key(b, in_name, it.valid_to.is_some(), i), i))
        })
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

    /// Keyword search over the newest version of each code: code, Chinese name / keywords /
    /// category / articles, or pinyin initials (`cx` → 超限), ranked as an officer searches (see
    /// the module `lookup`), best first.
    pub fn search(&self, query: &str, limit: usize) -> Vec<ItemSummary> {
        self.index
            .search(query, limit)
            .into_iter()
            .map(|(i, m)| self.summary(i, m))
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
            .items
            .iter()
            .filter(|&&i| self.item_at(i).category == category)
            .map(|&i| self.summary(i, "category"))
            .collect()
    }

    /// The categories and how many codes each holds.
    pub fn categories(&self) -> Vec<(String, u32)> {
        let mut m: std::collections::BTreeMap<String, u32> = Default::default();
        for &i in &self.index.items {
            *m.entry(self.item_at(i).category.clone()).or_default() += 1;
        }
        m.into_iter().collect()
    }
}
