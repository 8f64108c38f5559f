//! The rule language of operands, `check: sum CMP sum` with an optional
//! `when: [not] operand.Flag`, parsed against the operands of one packet.
//!
//! The spec checker and `#[derive(Packet)]`'s `#[hqq(rule = "...")]` both
//! parse with [`parse`], so a rule means the same and is refused with the
//! same message in a spec and on a derived packet.
//!
//! ```
//! use hqq_gen::rule::{parse, RuleOperand, RuleOperandKind};
//!
//! let operands = [
//!     RuleOperand { name: "offset", kind: RuleOperandKind::Unsigned },
//!     RuleOperand { name: "size", kind: RuleOperandKind::Unsigned },
//! ];
//! let rule = parse("offset + size <= limits.buffer_size", None, "", &operands).unwrap();
//! assert!(rule.needs_limits());
//! let error = parse("size <= total", None, "", &operands).unwrap_err();
//! assert_eq!(error.message, "rule `size <= total` refers to unknown operand `total`");
//! ```

use crate::model::{CmpOp, Condition, FlagSet, Limit, Rule, Term};

/// An operand of the packet a rule is parsed for.
#[derive(Debug, Clone, Copy)]
pub struct RuleOperand<'a> {
    /// The operand's name (a field name).
    pub name: &'a str,
    /// What a rule may do with it.
    pub kind: RuleOperandKind<'a>,
}

/// What a rule may do with an operand.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RuleOperandKind<'a> {
    /// An unsigned integer (`u8`, `u16`, `u32` or `u64`): a term of a
    /// `check`, compared by its value.
    Unsigned,
    /// A flag set: a `when` condition may test its flags. `None` if its
    /// flags are not known where the rule is parsed (a derived packet's
    /// field type; the compiler then checks that the flag exists).
    Flags(Option<&'a FlagSet>),
    /// Any other type: neither.
    Other,
}

/// Why a rule does not parse: a message and, where one helps, a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleError {
    /// What is wrong, naming the rule.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl RuleError {
    fn new(message: String, hint: Option<String>) -> Self {
        RuleError { message, hint }
    }
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        match &self.hint {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for RuleError {}

/// The grammar in one line, for hints.
const RULE_HINT: &str = "write `a + b <= limits.buffer_size`: unsigned integer operands, limits.buffer_size, limits.slot_count, limits.max_message_size or integers, joined by `+`, with one of < <= == != >= >";

/// Parses one `check` and its optional `when` condition against the
/// operands of a packet; `doc` becomes the rule's documentation.
pub fn parse(
    check: &str,
    when: Option<&str>,
    doc: &str,
    operands: &[RuleOperand],
) -> Result<Rule, RuleError> {
    let tokens = tokenize(check)?;
    let cmp = tokens.iter().enumerate().find_map(|(i, t)| match t {
        Token::Cmp(op) => Some((i, *op)),
        _ => None,
    });
    let Some((cmp, op)) = cmp else {
        return Err(RuleError::new(
            format!("rule `{check}` has no comparison"),
            Some(RULE_HINT.into()),
        ));
    };
    let lhs = sum(&tokens[..cmp], check, operands)?;
    let rhs = sum(&tokens[cmp + 1..], check, operands)?;
    let when = when.map(|w| condition(w, operands)).transpose()?;
    let show = |s: &[Term]| {
        s.iter()
            .map(Term::to_string)
            .collect::<Vec<_>>()
            .join(" + ")
    };
    Ok(Rule {
        text: format!("{} {} {}", show(&lhs), op.as_str(), show(&rhs)),
        when,
        lhs,
        op,
        rhs,
        doc: doc.trim_end().to_owned(),
    })
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Int(u64),
    Plus,
    Cmp(CmpOp),
}

fn tokenize(text: &str) -> Result<Vec<Token>, RuleError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_whitespace() {
            rest = &rest[1..];
        } else if c == '+' {
            out.push(Token::Plus);
            rest = &rest[1..];
        } else if let Some((op, len)) = [
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .iter()
        .find(|(s, _)| rest.starts_with(s))
        .map(|(s, op)| (*op, s.len()))
        {
            out.push(Token::Cmp(op));
            rest = &rest[len..];
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                .unwrap_or(rest.len());
            let word = &rest[..len];
            rest = &rest[len..];
            if c.is_ascii_digit() {
                let value = match word.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                    None => word.replace('_', "").parse(),
                };
                out.push(Token::Int(value.map_err(|_| {
                    RuleError::new(format!("`{word}` in rule `{text}` is not an integer"), None)
                })?));
            } else {
                out.push(Token::Name(word.to_owned()));
            }
        } else {
            return Err(RuleError::new(
                format!("unexpected `{c}` in rule `{text}`"),
                Some(RULE_HINT.into()),
            ));
        }
    }
    Ok(out)
}

fn sum(tokens: &[Token], text: &str, operands: &[RuleOperand]) -> Result<Vec<Term>, RuleError> {
    let bad = || {
        RuleError::new(
            format!("rule `{text}` is not `sum CMP sum`"),
            Some(RULE_HINT.to_owned()),
        )
    };
    if tokens.is_empty() || tokens.len() % 2 == 0 {
        return Err(bad());
    }
    let mut terms = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        match (k % 2, t) {
            (1, Token::Plus) => {}
            (0, Token::Int(v)) => terms.push(Term::Literal(*v)),
            (0, Token::Name(n)) => terms.push(term(n, text, operands)?),
            _ => return Err(bad()),
        }
    }
    Ok(terms)
}

fn term(name: &str, text: &str, operands: &[RuleOperand]) -> Result<Term, RuleError> {
    if let Some(field) = name.strip_prefix("limits.") {
        return Limit::ALL
            .into_iter()
            .find(|l| l.field() == field)
            .map(Term::Limit)
            .ok_or_else(|| {
                RuleError::new(
                    format!("rule `{text}` refers to unknown limit `{name}`"),
                    Some("limits are limits.buffer_size, limits.slot_count and limits.max_message_size".into()),
                )
            });
    }
    match operands.iter().find(|o| o.name == name) {
        Some(RuleOperand {
            kind: RuleOperandKind::Unsigned,
            ..
        }) => Ok(Term::Operand(name.to_owned())),
        Some(_) => Err(RuleError::new(
            format!(
                "rule `{text}` does arithmetic on `{name}`, which is not an unsigned integer operand"
            ),
            Some(
                "only u64, u32, u16 and u8 operands appear in a `check`; test flags with `when: operand.Flag`"
                    .into(),
            ),
        )),
        None => Err(RuleError::new(
            format!("rule `{text}` refers to unknown operand `{name}`"),
            Some(format!(
                "the operands of this packet are: {}",
                list(operands.iter().map(|o| o.name))
            )),
        )),
    }
}

fn condition(text: &str, operands: &[RuleOperand]) -> Result<Condition, RuleError> {
    let hint = || {
        Some(
            "write `when: operand.Flag` or `when: not operand.Flag` with a flag-set operand"
                .to_owned(),
        )
    };
    let (negated, rest) = match text.trim().strip_prefix("not ") {
        Some(rest) => (true, rest.trim()),
        None => (false, text.trim()),
    };
    let (operand, flag) = rest.split_once('.').ok_or_else(|| {
        RuleError::new(format!("condition `{text}` is not `operand.Flag`"), hint())
    })?;
    let o = operands.iter().find(|o| o.name == operand).ok_or_else(|| {
        RuleError::new(
            format!("condition `{text}` refers to unknown operand `{operand}`"),
            hint(),
        )
    })?;
    let set = match o.kind {
        RuleOperandKind::Flags(set) => set,
        RuleOperandKind::Unsigned | RuleOperandKind::Other => {
            return Err(RuleError::new(
                format!("condition `{text}`: operand `{operand}` is not a flag set"),
                hint(),
            ))
        }
    };
    if let Some(set) = set.filter(|set| !set.flags.iter().any(|f| f.name == flag)) {
        return Err(RuleError::new(
            format!(
                "condition `{text}` names unknown flag `{flag}` of `{}`",
                set.name
            ),
            Some(format!(
                "the flags are: {}",
                list(set.flags.iter().map(|f| f.name.as_str()))
            )),
        ));
    }
    Ok(Condition {
        negated,
        operand: operand.to_owned(),
        flag: flag.to_owned(),
    })
}
