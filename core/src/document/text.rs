//! Line breaking for Chinese text with Latin words and numbers in it.
//!
//! A line may break between any two CJK characters; a run of Latin letters, digits and the
//! punctuation inside them (`G214`, `K1876+300`, `49.8`, `2026-11-29`) stays together unless it is
//! wider than a whole line; spaces are break opportunities and are dropped at a break. Simple
//! kinsoku (禁则): closing punctuation (，。、；：？！）」》…) never starts a line — it stays with the
//! character before it — and opening punctuation (（「《…) never ends one. Widths come from the
//! font's advances through a measuring function, so the breaker is tested without a font.

use std::ops::Range;

/// Closing punctuation that must not start a line.
fn is_closing(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '、'
            | '；'
            | '：'
            | '？'
            | '！'
            | '）'
            | '」'
            | '』'
            | '》'
            | '〉'
            | '】'
            | '〕'
            | '］'
            | '｝'
            | '”'
            | '’'
            | '…'
            | '·'
            | '%'
            | '％'
            | ','
            | '.'
            | ';'
            | ':'
            | '?'
            | '!'
            | ')'
            | ']'
            | '}'
    )
}

/// Opening punctuation that must not end a line.
fn is_opening(c: char) -> bool {
    matches!(
        c,
        '（' | '「'
            | '『'
            | '《'
            | '〈'
            | '【'
            | '〔'
            | '［'
            | '｛'
            | '“'
            | '‘'
            | '('
            | '['
            | '{'
    )
}

/// Characters that form words with their neighbours: Latin letters, digits and the signs used
/// inside numbers, plates, mileposts and dates.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '+' | '-' | '_' | '/' | '#' | '@' | '&' | '=' | '\'' | '×' | '°'
        )
        || (c.is_alphanumeric() && !is_cjk(c))
}

/// CJK ideographs, kana, Hangul and fullwidth forms: each may stand alone on either side of a break.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF
        | 0x2E80..=0x9FFF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7FF
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFFEF
        | 0x20000..=0x3FFFF)
}

/// One unbreakable piece of a line: its byte range in the text and whether it is a space run.
#[derive(Debug, Clone)]
struct Unit {
    range: Range<usize>,
    space: bool,
}

/// Splits text (one paragraph, no newlines) into units between which a line may break.
fn units(text: &str) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut glue_next = false;
    for (i, c) in text.char_indices() {
        let r = i..i + c.len_utf8();
        let space = c.is_whitespace();
        let joins_previous = match out.last() {
            None => false,
            Some(last) => {
                if last.space || space {
                    last.space && space
                } else {
                    let mut before = text[..i].chars().rev();
                    let prev = before.next().unwrap_or(' ');
                    let prev2 = before.next().unwrap_or(' ');
                    // A decimal point or thousands separator inside a number (49.8, 21,350).
                    let in_number =
                        matches!(prev, '.' | ',') && c.is_ascii_digit() && prev2.is_ascii_digit();
                    glue_next
                        || is_closing(c)
                        || (is_word_char(c) && (is_word_char(prev) || in_number))
                }
            }
        };
        match out.last_mut() {
            Some(last) if joins_previous => last.range.end = r.end,
            _ => out.push(Unit { range: r, space }),
        }
        glue_next = !space && is_opening(c);
    }
    out
}

/// Breaks one paragraph (no `\n`) into lines no wider than `width`, measuring each character with
/// `advance`. Returns each line's byte range in `text`; the spaces at a break are in no line.
/// Only a line of one character can be wider than `width` (when that character alone is).
pub fn break_lines(text: &str, width: f32, advance: &dyn Fn(char) -> f32) -> Vec<Range<usize>> {
    break_lines_indented(text, width, width, advance)
}

/// [`break_lines`] with a first line of its own width (a paragraph's first-line indent).
pub fn break_lines_indented(
    text: &str,
    first_width: f32,
    width: f32,
    advance: &dyn Fn(char) -> f32,
) -> Vec<Range<usize>> {
    let width_of = |lines: &Vec<Range<usize>>| if lines.is_empty() { first_width } else { width };
    let measure = |r: &Range<usize>| text[r.clone()].chars().map(advance).sum::<f32>();
    let mut lines: Vec<Range<usize>> = Vec::new();
    // The line being filled: its start, its end without trailing spaces, and that width.
    let mut line: Option<(usize, usize, f32)> = None;
    // Width of the spaces after the line's last word, added only if another word follows.
    let mut pending_space = 0.0f32;
    for unit in units(text) {
        if unit.space {
            if line.is_some() {
                pending_space += measure(&unit.range);
            }
            continue;
        }
        let w = measure(&unit.range);
        match line {
            Some((start, _, lw)) if lw + pending_space + w <= width_of(&lines) => {
                line = Some((start, unit.range.end, lw + pending_space + w));
            }
            _ => {
                if let Some((start, end, _)) = line.take() {
                    lines.push(start..end);
                }
                if w <= width_of(&lines) {
                    line = Some((unit.range.start, unit.range.end, w));
                } else {
                    // A word wider than a line: break it between characters.
                    let mut start = unit.range.start;
                    let mut lw = 0.0f32;
                    for (i, c) in text[unit.range.clone()].char_indices() {
                        let at = unit.range.start + i;
                        let cw = advance(c);
                        if lw + cw > width_of(&lines) && at > start {
                            lines.push(start..at);
                            start = at;
                            lw = 0.0;
                        }
                        lw += cw;
                    }
                    line = Some((start, unit.range.end, lw));
                }
            }
        }
        pending_space = 0.0;
    }
    if let Some((start, end, _)) = line {
        lines.push(start..end);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// CJK 1 em, everything else half an em, in units of 10.
    fn adv(c: char) -> f32 {
        if is_cjk(c) {
            10.0
        } else {
            5.0
        }
    }

    fn lines(text: &str, width: f32) -> Vec<&str> {
        break_lines(text, width, &adv)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn breaks_between_cjk_characters() {
        assert_eq!(
            lines("一二三四五六七", 30.0),
            vec!["一二三", "四五六", "七"]
        );
    }

    #[test]
    fn keeps_latin_words_and_numbers_together() {
        assert_eq!(
            lines("车号青E12345停车", 50.0),
            vec!["车号青", "E12345停车"]
        );
        assert_eq!(
            lines("G214线 K1876+300处", 70.0),
            vec!["G214线", "K1876+300处"]
        );
    }

    #[test]
    fn closing_punctuation_does_not_start_a_line() {
        // "三" and "，" travel together to the next line.
        assert_eq!(lines("一二三，四五", 30.0), vec!["一二", "三，四", "五"]);
        assert_eq!(lines("一二（三）", 30.0), vec!["一二", "（三）"]);
    }

    #[test]
    fn decimals_stay_whole() {
        assert_eq!(lines("东经100.953600°", 60.0), vec!["东经", "100.953600°"]);
        assert_eq!(lines("共21,350千克", 35.0), vec!["共", "21,350", "千克"]);
    }

    #[test]
    fn an_overlong_word_is_broken() {
        assert_eq!(lines("ABCDEFGHIJ", 20.0), vec!["ABCD", "EFGH", "IJ"]);
    }

    #[test]
    fn the_first_line_may_be_narrower() {
        let text = "一二三四五六七";
        let got: Vec<&str> = break_lines_indented(text, 20.0, 30.0, &adv)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(got, vec!["一二", "三四五", "六七"]);
    }

    #[test]
    fn spaces_at_a_break_are_dropped() {
        assert_eq!(lines("abc def ghi", 40.0), vec!["abc def", "ghi"]);
        assert_eq!(lines("  ", 40.0), Vec::<&str>::new());
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('执'),
                Just('法'),
                Just('，'),
                Just('。'),
                Just('（'),
                Just('）'),
                Just('a'),
                Just('Z'),
                Just('0'),
                Just('9'),
                Just(' '),
                Just('+'),
                Just('.'),
                Just('《'),
                Just('》'),
                Just('、'),
                Just('é'),
                Just('\u{3000}'),
            ],
            0..200,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn never_loses_reorders_or_overflows(
            text in text_strategy(),
            width in 5.0f32..200.0,
            indent in 0.0f32..30.0,
        ) {
            let first = (width - indent).max(1.0);
            let ranges = break_lines_indented(&text, first, width, &adv);
            let mut kept = String::new();
            let mut last_end = 0;
            for (n, r) in ranges.iter().enumerate() {
                let width = if n == 0 { first } else { width };
                prop_assert!(r.start >= last_end, "lines in order");
                // What was skipped between lines is only whitespace.
                prop_assert!(text[last_end..r.start].chars().all(char::is_whitespace));
                last_end = r.end;
                let line = &text[r.clone()];
                prop_assert!(!line.is_empty());
                let w: f32 = line.chars().map(adv).sum();
                prop_assert!(w <= width || line.chars().count() == 1,
                    "line {line:?} is {w} wide, more than {width}");
                kept.push_str(line);
            }
            prop_assert!(text[last_end..].chars().all(char::is_whitespace));
            let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            prop_assert_eq!(strip(&kept), strip(&text));
        }
    }
}
