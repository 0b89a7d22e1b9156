//! Generic rules as MathML: an op's or optimizer's rule is kept as one line of plain text beside
//! its code (`Op::formula`, `OptimizerKind::formula`), readable in the source and as the page's
//! fallback; this turns that text into MathML for the stepper. Key decision: a small converter for
//! the notation those rules use (derivative fractions, Unicode scripts, `Σ_index`, `e^(…)`, `√(…)`,
//! `μ_batch`), not a second copy of every rule written in MathML by hand.

use super::math::{frac, mi, mn, mo, row, sum_over};

/// An op's or optimizer's generic rule (`Op::formula`, `OptimizerKind::formula`: plain text such as
/// `∂L/∂A = ∂L/∂Y·Bᵀ`) as MathML: `∂X/∂Y` becomes a fraction, Unicode sub- and superscripts
/// (`xᵢ`, `Bᵀ`, `β₁ᵗ`) become scripts, `Σ_rows`, `Σ_n,i,j`, `Σ_{i: …}` and `Σᵢ` put their
/// index beneath, `e^(…)` raises its group, `√(…)` draws a root, `μ_batch` subscripts a word,
/// words (and `snake_case` names) are upright. The text stays the page's plain-text fallback.
pub fn mathml(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    format!("<math display=\"block\">{}</math>", row(&rule_seq(&chars, &mut pos, None)))
}

const SUBS: &str = "₀₁₂₃₄₅₆₇₈₉ᵢⱼₖ";
const SUB_PLAIN: &str = "0123456789ijk";
const SUPS: &str = "ᵀᵗ²";
const SUP_PLAIN: &str = "Tt2";

/// A letter that is not a sub- or superscript (`ᵢ`, `ᵗ` are letters to Unicode).
fn plain_letter(c: char) -> bool {
    c.is_alphabetic() && script_plain(c, SUBS, SUB_PLAIN).is_none() && script_plain(c, SUPS, SUP_PLAIN).is_none()
}

/// The subscript character of a digit (`1` → `₁`).
pub(super) fn subscript(digit: char) -> Option<char> {
    SUB_PLAIN.chars().position(|p| p == digit).and_then(|i| SUBS.chars().nth(i))
}

/// The plain character of a sub- or superscript character.
fn script_plain(c: char, scripts: &str, plain: &str) -> Option<char> {
    scripts.chars().position(|s| s == c).and_then(|i| plain.chars().nth(i))
}

/// Reads items until `close` (consumed) or the end.
fn rule_seq(chars: &[char], pos: &mut usize, close: Option<char>) -> Vec<String> {
    let mut out = Vec::new();
    while *pos < chars.len() {
        let c = chars[*pos];
        if Some(c) == close {
            *pos += 1;
            return out;
        }
        if c.is_whitespace() {
            *pos += 1;
            // Two spaces separate rules (`∂L/∂A = …,  ∂L/∂B = …`).
            if chars.get(*pos) == Some(&' ') {
                out.push("<mspace width=\"1em\"/>".into());
                while chars.get(*pos) == Some(&' ') {
                    *pos += 1;
                }
            }
            continue;
        }
        let item = rule_item(chars, pos);
        out.push(rule_scripts(chars, pos, item));
    }
    out
}

/// One item: `∂X/∂Y`, a word or letter, a number, a group, an operator.
fn rule_item(chars: &[char], pos: &mut usize) -> String {
    let c = chars[*pos];
    // ∂X/∂Y: a fraction of two derivatives (X and Y with their scripts).
    if c == '∂' && chars.get(*pos + 1).is_some_and(|c| c.is_alphabetic()) {
        let start = *pos;
        *pos += 1;
        let word = rule_word(chars, pos);
        let top = rule_scripts(chars, pos, word);
        if chars.get(*pos) == Some(&'/') && chars.get(*pos + 1) == Some(&'∂') {
            *pos += 2;
            let word = rule_word(chars, pos);
            let bottom = rule_scripts(chars, pos, word);
            return frac(&row(&[mi("∂"), top]), &row(&[mi("∂"), bottom]));
        }
        *pos = start + 1;
        return mi("∂");
    }
    if c == 'Σ' || c == '∑' {
        *pos += 1;
        let under = if chars.get(*pos) == Some(&'_') && chars.get(*pos + 1) == Some(&'{') {
            // Σ_{i: ids[i] = v}: a condition beneath.
            *pos += 2;
            let condition = row(&rule_seq(chars, pos, Some('}')));
            return format!("<munder><mo>∑</mo>{condition}</munder>");
        } else if chars.get(*pos) == Some(&'_') {
            // Σ_rows, Σ_n,i,j: a word or indices beneath.
            *pos += 1;
            let word: String = chars[*pos..].iter().take_while(|c| c.is_alphabetic() || **c == ',').collect();
            // A comma after the indices belongs to the text (`Σ_rows, …`), not beneath the sum.
            let index = word.trim_end_matches(',');
            *pos += index.chars().count();
            Some(index.to_string())
        } else if let Some(p) = chars.get(*pos).and_then(|&s| script_plain(s, SUBS, SUB_PLAIN)) {
            *pos += 1;
            Some(p.to_string())
        } else {
            None
        };
        return match under {
            Some(index) => sum_over(&index),
            None => mo("∑"),
        };
    }
    if plain_letter(c) {
        return rule_word(chars, pos);
    }
    if c.is_ascii_digit() || c == '½' {
        let n: String = chars[*pos..].iter().take_while(|c| c.is_ascii_digit() || **c == '.' || **c == '½').collect();
        *pos += n.chars().count();
        return mn(&n);
    }
    if c == '(' {
        *pos += 1;
        let inner = rule_seq(chars, pos, Some(')'));
        return row(&[mo("("), row(&inner), mo(")")]);
    }
    if c == '√' && *pos + 1 < chars.len() {
        // √(…) roots its group (without the brackets), √2 the next item.
        *pos += 1;
        let under = if chars[*pos] == '(' {
            *pos += 1;
            row(&rule_seq(chars, pos, Some(')')))
        } else {
            let item = rule_item(chars, pos);
            rule_scripts(chars, pos, item)
        };
        return format!("<msqrt>{under}</msqrt>");
    }
    *pos += 1;
    mo(&c.to_string())
}

/// A word (upright when longer than a letter) or a single letter with its combining accent (m̂).
fn rule_word(chars: &[char], pos: &mut usize) -> String {
    let mut word: String = chars[*pos..].iter().take_while(|&&c| plain_letter(c) || ('\u{300}'..='\u{36f}').contains(&c)).collect();
    // Words (`tanh`, `mask`, `if`) stay together; two letters are two symbols (`αx`).
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 2 && word != "if" {
        let mut it = word.char_indices().skip(1).filter(|(_, c)| c.is_alphabetic());
        if let Some((cut, _)) = it.next() {
            word.truncate(cut);
        }
    }
    *pos += word.chars().count();
    // A snake_case name (`conv_transpose2d`) is one upright name; `μ_batch` is μ subscripted.
    while letters > 2 && chars.get(*pos) == Some(&'_') && chars.get(*pos + 1).is_some_and(|c| c.is_ascii_alphanumeric()) {
        let tail: String = chars[*pos + 1..].iter().take_while(|c| c.is_ascii_alphanumeric()).collect();
        *pos += 1 + tail.chars().count();
        word.push('_');
        word.push_str(&tail);
    }
    mi(&word)
}

/// The sub- and superscripts after an item (`ᵢ`, `₁ᵗ`, `^(…)`).
fn rule_scripts(chars: &[char], pos: &mut usize, base: String) -> String {
    let mut sub = String::new();
    let mut sup: Option<String> = None;
    loop {
        match chars.get(*pos) {
            Some(&c) if script_plain(c, SUBS, SUB_PLAIN).is_some() => {
                sub.push(script_plain(c, SUBS, SUB_PLAIN).unwrap_or(c));
                *pos += 1;
            }
            Some(&c) if script_plain(c, SUPS, SUP_PLAIN).is_some() => {
                let p = script_plain(c, SUPS, SUP_PLAIN).unwrap_or(c);
                sup = Some(if p.is_ascii_digit() { mn(&p.to_string()) } else { mi(&p.to_string()) });
                *pos += 1;
            }
            Some('^') if chars.get(*pos + 1) == Some(&'(') => {
                *pos += 2;
                sup = Some(row(&rule_seq(chars, pos, Some(')'))));
            }
            Some('_') if sub.is_empty() && chars.get(*pos + 1).is_some_and(|c| c.is_alphabetic()) => {
                let word: String = chars[*pos + 1..].iter().take_while(|c| c.is_alphabetic()).collect();
                *pos += 1 + word.chars().count();
                sub = word;
            }
            _ => break,
        }
    }
    let sub = (!sub.is_empty()).then(|| if sub.chars().all(|c| c.is_ascii_digit()) { mn(&sub) } else { mi(&sub) });
    match (sub, sup) {
        (None, None) => base,
        (Some(b), None) => format!("<msub>{base}{b}</msub>"),
        (None, Some(p)) => format!("<msup>{base}{p}</msup>"),
        (Some(b), Some(p)) => format!("<msubsup>{base}{b}{p}</msubsup>"),
    }
}
