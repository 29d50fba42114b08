//! The registry of stable error codes (`docs/errors.md`) and the source agree, in both directions.
//!
//! Every `UPPER_SNAKE_CASE` string literal in production code is a stable code unless it is one of
//! the few words named in [`NOT_CODES`] (environment variables, HTTP methods, SQLite pragma values,
//! an ABI name, the demo roster's certificate numbers). So a code written anywhere — a constructor
//! argument, a constant, a match arm — must be in the table, with the parts it is written in; and a
//! code in the table must still be written somewhere.
//!
//! Rust sources are read token by token (`proc-macro2`), so comments are not code and items marked
//! `#[cfg(test)]` (and the `tests.rs` files such a module points at) are left out: a code a test
//! makes up is not a code Roadside raises. Kotlin and Swift sources have no test code in the
//! directories read, and their literals are found by pattern.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Upper-case literals in production code that are not error codes.
const NOT_CODES: &[&str] = &[
    // `extern "C"` of the FFI-buffer twins.
    "C", // HTTP methods, as metric labels.
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "OTHER",
    // SQLite pragma values (synchronous, journal mode, checkpoint mode, booleans).
    "NORMAL", "FULL", "PASSIVE", "TRUNCATE", "WAL", "ON",
    // The description of a success answer in the OpenAPI attributes.
    "OK", // RFC 3339's date-time separator.
    "T",
];

/// Literals that are not codes by their shape: configuration from the environment.
fn not_a_code(word: &str) -> bool {
    NOT_CODES.contains(&word)
        || word.starts_with("ROADSIDE_")
        || word.starts_with("CARGO_")
        // The demo roster's certificate numbers (执法证号 QH…).
        || (word.starts_with("QH") && word[2..].bytes().all(|b| b.is_ascii_digit()))
}

fn is_upper_word(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z'))
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// `#[cfg(test)]`: the bracket group after a `#`.
fn is_cfg_test(group: &proc_macro2::Group) -> bool {
    group.delimiter() == Delimiter::Bracket
        && group.stream().to_string().replace(' ', "") == "cfg(test)"
}

/// Collects the upper-case string literals of a token stream, skipping `#[cfg(test)]` items.
fn rust_literals(stream: TokenStream, out: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) = (&tokens[i], tokens.get(i + 1)) {
            if p.as_char() == '#' && is_cfg_test(g) {
                // Skip the item: up to its `;` or through its body `{…}`.
                i += 2;
                while i < tokens.len() {
                    match &tokens[i] {
                        TokenTree::Punct(p) if p.as_char() == ';' => break,
                        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => break,
                        _ => i += 1,
                    }
                }
                i += 1;
                continue;
            }
        }
        match &tokens[i] {
            TokenTree::Group(g) => rust_literals(g.stream(), out),
            TokenTree::Literal(l) => {
                let text = l.to_string();
                if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    if is_upper_word(inner) {
                        out.push(inner.to_string());
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// `"WORD"` literals in Kotlin or Swift source.
fn quoted_words(text: &str, out: &mut Vec<String>) {
    for (i, piece) in text.split('"').enumerate() {
        // Odd pieces are inside quotes (neither language's sources read here escape a quote
        // next to an upper-case word).
        if i % 2 == 1 && is_upper_word(piece) {
            out.push(piece.to_string());
        }
    }
}

/// Every code written in the source, with the parts it is written in.
fn codes_in_source() -> BTreeMap<String, BTreeSet<String>> {
    let root = workspace();
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |words: Vec<String>, origin: &str| {
        for w in words.into_iter().filter(|w| !not_a_code(w)) {
            found.entry(w).or_default().insert(origin.to_string());
        }
    };
    for (dir, origin) in [
        ("core/src", "core"),
        // The offline verifier is the core's pure domain, in a crate of its own.
        ("verify/src", "core"),
        ("cli/src", "CLI"),
        ("server/src", "server"),
    ] {
        let mut rs = Vec::new();
        files(&root.join(dir), "rs", &mut rs);
        for path in rs {
            // `tests.rs` files are the bodies of `#[cfg(test)] mod tests;`.
            if path.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let stream = TokenStream::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not tokenize: {e}", path.display()));
            let mut words = Vec::new();
            rust_literals(stream, &mut words);
            add(words, origin);
        }
    }
    for (dir, ext, origin) in [
        ("android/app/src/main", "kt", "Android app"),
        ("android/shell/src/main/kotlin/cn", "kt", "Android app"),
        ("ios/App", "swift", "iOS app"),
    ] {
        let mut sources = Vec::new();
        files(&root.join(dir), ext, &mut sources);
        for path in sources {
            let mut words = Vec::new();
            quoted_words(
                &std::fs::read_to_string(&path).expect("read source"),
                &mut words,
            );
            add(words, origin);
        }
    }
    found
}

/// One row of the registry table.
struct Row {
    line: usize,
    category: String,
    origins: BTreeSet<String>,
    meaning: String,
}

fn registry() -> BTreeMap<String, Row> {
    let path = workspace().join("docs/errors.md");
    let text = std::fs::read_to_string(&path).expect("docs/errors.md");
    let mut rows = BTreeMap::new();
    let mut previous = String::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = rest.split(" | ").collect();
        assert!(
            cells.len() == 4,
            "docs/errors.md line {}: four columns",
            n + 1
        );
        let code = cells[0].trim_end_matches('`').to_string();
        assert!(
            is_upper_word(&code),
            "docs/errors.md line {}: code {code}",
            n + 1
        );
        assert!(
            code > previous,
            "docs/errors.md line {}: {code} out of order or repeated",
            n + 1
        );
        previous = code.clone();
        let row = Row {
            line: n + 1,
            category: cells[1].trim().to_string(),
            origins: cells[2].split(", ").map(|s| s.trim().to_string()).collect(),
            meaning: cells[3].trim_end_matches(" |").trim().to_string(),
        };
        rows.insert(code, row);
    }
    assert!(rows.len() > 100, "docs/errors.md: the table was not found");
    rows
}

#[test]
fn every_code_in_the_source_is_registered_and_every_registered_code_is_in_the_source() {
    let found = codes_in_source();
    let table = registry();

    let unregistered: Vec<_> = found.keys().filter(|c| !table.contains_key(*c)).collect();
    assert!(
        unregistered.is_empty(),
        "codes written in the source but missing from docs/errors.md: {unregistered:?}"
    );
    let stale: Vec<_> = table.keys().filter(|c| !found.contains_key(*c)).collect();
    assert!(
        stale.is_empty(),
        "codes in docs/errors.md that the source no longer writes: {stale:?}"
    );
    for (code, origins) in &found {
        let row = &table[code];
        assert_eq!(
            &row.origins, origins,
            "docs/errors.md line {}: where {code} comes from",
            row.line
        );
        assert!(
            !row.category.is_empty() && !row.meaning.is_empty() && row.meaning != "—",
            "docs/errors.md line {}: {code} needs a category and a meaning",
            row.line
        );
    }
}

#[test]
fn the_scanner_sees_codes_and_skips_test_code_and_comments() {
    let src = r#"
        // "COMMENTED_OUT"
        fn f() -> E { E::store("REAL_CODE", format!("{}", "NESTED_CODE")) }
        const C: &str = "CONST_CODE";
        #[cfg(test)]
        mod tests { fn g() { h("TEST_ONLY") } }
        #[cfg(test)]
        fn helper() -> &'static str { "TEST_HELPER" }
        extern "C" fn twin() {}
    "#;
    let mut words = Vec::new();
    rust_literals(TokenStream::from_str(src).expect("tokenize"), &mut words);
    words.retain(|w| !not_a_code(w));
    assert_eq!(words, ["REAL_CODE", "NESTED_CODE", "CONST_CODE"]);
}
