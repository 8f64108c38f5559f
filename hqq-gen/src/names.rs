//! Identifier rules and case conversions shared by the checks and emitters.

/// Rust keywords (strict and reserved) that cannot name a field or method.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// `ConnCopy`: an ASCII letter-and-digit identifier starting uppercase.
pub fn is_upper_camel(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
        && !KEYWORDS.contains(&name)
}

/// `buffer_index`: lowercase letters, digits and `_`, starting with a letter,
/// not a keyword.
pub fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !KEYWORDS.contains(&name)
}

/// Splits an UpperCamelCase name into its words: `StandardLinkCopy` ->
/// `Standard`, `Link`, `Copy`.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_ascii_uppercase()
            && (!chars[i - 1].is_ascii_uppercase()
                || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if boundary || out.is_empty() {
            out.push(String::new());
        }
        if let Some(w) = out.last_mut() {
            w.push(c);
        }
    }
    out
}

/// `StandardLinkCopy` -> `standard_link_copy`.
pub fn snake(name: &str) -> String {
    words(name).join("_").to_ascii_lowercase()
}

/// `LargeCopy` -> `LARGE_COPY`.
pub fn shouty(name: &str) -> String {
    words(name).join("_").to_ascii_uppercase()
}

/// The handler method of a packet (an opcode, a dispatch variant):
/// `StartStream` -> `on_start_stream`.
pub fn handler_method(packet: &str) -> String {
    format!("on_{}", snake(packet))
}

/// The candidate closest to `name` by edit distance, if it is close enough
/// to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| {
            (
                distance(&name.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(snake("StandardLinkCopy"), "standard_link_copy");
        assert_eq!(snake("ProtoAck"), "proto_ack");
        assert_eq!(shouty("LargeCopy"), "LARGE_COPY");
        assert_eq!(shouty("QoS"), "QO_S");
        assert_eq!(shouty("HTTPServer"), "HTTP_SERVER");
    }

    #[test]
    fn identifiers() {
        assert!(is_upper_camel("ConnCopy"));
        assert!(!is_upper_camel("connCopy"));
        assert!(!is_upper_camel("Conn-Copy"));
        assert!(is_snake("buffer_index"));
        assert!(!is_snake("type"));
        assert!(!is_snake("BufferIndex"));
    }

    #[test]
    fn typo_suggestions() {
        let known = ["ErrorCode", "Features", "FrameFlags"];
        assert_eq!(closest("FrameFlag", known.into_iter()), Some("FrameFlags"));
        assert_eq!(closest("Nothing", known.into_iter()), None);
    }
}
