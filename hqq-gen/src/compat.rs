//! Wire compatibility of two versions of a spec (`hqq-gen compat OLD NEW`):
//! which changes break peers built from the old version and which do not.
//!
//! Entries are matched by name, and also by wire number (opcode byte, enum
//! value, flag bit, method id) so that reusing a number for something else
//! is caught. A change is breaking when a peer built from one version can
//! send a packet the other rejects or reads differently. HQQ decoders reject
//! non-zero unused operands, unknown enum values and (by default) unknown
//! flag bits, so only additions of whole entries are compatible: a new
//! opcode, enum value, flag or method, which a new peer uses once
//! negotiation says the other side knows it.

use std::fmt;

use crate::model::{Direction, EnumType, FlagSet, Opcode, Operand, OperandType, Spec, UnknownBits};

/// Whether a change breaks deployed peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Peers of the old and the new version misread or reject each other.
    Breaking,
    /// Old and new peers still interoperate.
    Compatible,
}

/// One difference between the old and the new spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Breaking or compatible.
    pub severity: Severity,
    /// The entry it is about: `opcode ConnCopy (0x04)`, `enum ErrorCode`.
    pub entry: String,
    /// What changed.
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Breaking => "breaking",
            Severity::Compatible => "compatible",
        };
        write!(f, "{severity}: {}: {}", self.entry, self.what)
    }
}

/// The differences between two versions of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatReport {
    /// Every change, breaking ones first, each group in spec order.
    pub changes: Vec<Change>,
    /// Whether the new spec's major version is above the old one's.
    pub major_raised: bool,
}

impl CompatReport {
    /// The breaking changes.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.severity == Severity::Breaking)
    }

    /// Whether the new version may be released as it is: no breaking
    /// change, or a higher major version.
    pub fn is_allowed(&self) -> bool {
        self.major_raised || self.breaking().next().is_none()
    }
}

impl fmt::Display for CompatReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        let breaking = self.breaking().count();
        let compatible = self.changes.len() - breaking;
        let verdict = if breaking == 0 {
            "compatible"
        } else if self.major_raised {
            "breaking, allowed by the new major version"
        } else {
            "breaking: raise the major version or undo the breaking changes"
        };
        write!(
            f,
            "{breaking} breaking, {compatible} compatible change(s): {verdict}"
        )
    }
}

/// Compares `old` with `new`.
pub fn compare(old: &Spec, new: &Spec) -> CompatReport {
    let mut changes = Changes(Vec::new());
    compare_protocol(&mut changes, old, new);
    compare_opcodes(&mut changes, old, new);
    compare_enums(&mut changes, &old.enums, &new.enums);
    compare_flag_sets(&mut changes, &old.flags, &new.flags);
    compare_methods(&mut changes, old, new);
    let mut changes = changes.0;
    changes.sort_by_key(|c| c.severity);
    CompatReport {
        changes,
        major_raised: new.protocol.version.major > old.protocol.version.major,
    }
}

struct Changes(Vec<Change>);

impl Changes {
    fn breaking(&mut self, entry: &str, what: String) {
        self.push(Severity::Breaking, entry, what);
    }

    fn compatible(&mut self, entry: &str, what: String) {
        self.push(Severity::Compatible, entry, what);
    }

    fn push(&mut self, severity: Severity, entry: &str, what: String) {
        self.0.push(Change {
            severity,
            entry: entry.to_owned(),
            what,
        });
    }
}

fn compare_protocol(c: &mut Changes, old: &Spec, new: &Spec) {
    let (o, n) = (&old.protocol, &new.protocol);
    if o.name != n.name {
        c.breaking("protocol", format!("renamed from {} to {}", o.name, n.name));
    }
    if o.layer != n.layer {
        c.breaking("protocol", "layer changed".into());
    }
    let (ov, nv) = (o.version, n.version);
    if (nv.major, nv.minor) < (ov.major, ov.minor) {
        c.breaking(
            "protocol",
            format!(
                "version went down from {}.{} to {}.{}",
                ov.major, ov.minor, nv.major, nv.minor
            ),
        );
    }
}

fn opcode_entry(op: &Opcode) -> String {
    format!("opcode {} ({:#04x})", op.name, op.code)
}

fn compare_opcodes(c: &mut Changes, old: &Spec, new: &Spec) {
    for o in &old.opcodes {
        let entry = opcode_entry(o);
        match new.opcodes.iter().find(|n| n.name == o.name) {
            None => c.breaking(&entry, "removed".into()),
            Some(n) => {
                if n.code != o.code {
                    c.breaking(&entry, format!("renumbered to {:#04x}", n.code));
                }
                compare_direction(c, &entry, o.direction, n.direction);
                compare_operands(c, &entry, old, o, new, n);
            }
        }
        if let Some(n) = new
            .opcodes
            .iter()
            .find(|n| n.code == o.code && n.name != o.name)
        {
            c.breaking(&entry, format!("opcode byte reused by {}", n.name));
        }
    }
    for n in &new.opcodes {
        if !old.opcodes.iter().any(|o| o.name == n.name) {
            c.compatible(&opcode_entry(n), "added".into());
        }
    }
}

fn compare_direction(c: &mut Changes, entry: &str, old: Direction, new: Direction) {
    if old == new {
        return;
    }
    let what = format!("direction {} -> {}", old.as_str(), new.as_str());
    if new == Direction::Both {
        c.compatible(entry, what);
    } else {
        c.breaking(entry, what);
    }
}

fn type_name(spec: &Spec, o: &Operand) -> String {
    match o.ty {
        OperandType::U64 => "u64".into(),
        OperandType::Scalar(s) => s.name().into(),
        OperandType::Version => "version".into(),
        OperandType::Enum(i) => spec.enums[i].name.clone(),
        OperandType::Flags { set, .. } => spec.flags[set].name.clone(),
    }
}

fn compare_operands(
    c: &mut Changes,
    entry: &str,
    old_spec: &Spec,
    old: &Opcode,
    new_spec: &Spec,
    new: &Opcode,
) {
    for o in &old.operands {
        let what = |s: &str| format!("operand {} `{}` {s}", o.index, o.name);
        let Some(n) = new.operands.get(o.index) else {
            c.breaking(
                entry,
                what("removed (decoders reject a non-zero unused operand)"),
            );
            continue;
        };
        if n.name != o.name {
            if let Some(m) = new.operands.iter().find(|m| m.name == o.name) {
                c.breaking(entry, what(&format!("moved to operand {}", m.index)));
                continue;
            }
            c.compatible(entry, what(&format!("renamed to `{}`", n.name)));
        }
        let (ot, nt) = (type_name(old_spec, o), type_name(new_spec, n));
        if ot != nt {
            c.breaking(entry, what(&format!("retyped from {ot} to {nt}")));
        }
        if let (
            OperandType::Flags {
                unknown_bits: ob, ..
            },
            OperandType::Flags {
                unknown_bits: nb, ..
            },
        ) = (&o.ty, &n.ty)
        {
            match (ob, nb) {
                (UnknownBits::Drop, UnknownBits::Reject) => {
                    c.breaking(entry, what("now rejects unknown bits (was drop)"))
                }
                (UnknownBits::Reject, UnknownBits::Drop) => {
                    c.compatible(entry, what("now drops unknown bits (was reject)"))
                }
                _ => {}
            }
        }
        for r in &n.rules {
            if !o.rules.iter().any(|q| q.full_text() == r.full_text()) {
                c.breaking(entry, what(&format!("gained rule `{}`", r.full_text())));
            }
        }
        for r in &o.rules {
            if !n.rules.iter().any(|q| q.full_text() == r.full_text()) {
                c.compatible(entry, what(&format!("lost rule `{}`", r.full_text())));
            }
        }
    }
    for n in new.operands.iter().skip(old.operands.len()) {
        c.breaking(
            entry,
            format!(
                "operand {} `{}` added (old decoders reject a non-zero unused operand; \
                 add a new opcode instead)",
                n.index, n.name
            ),
        );
    }
}

/// Compares named, numbered members (enum values, flags): a member removed,
/// renumbered or its number reused is breaking, one added is compatible.
fn compare_members(
    c: &mut Changes,
    entry: &str,
    kind: &str,
    old: &[(&str, u64)],
    new: &[(&str, u64)],
) {
    for &(name, number) in old {
        match new.iter().find(|(n, _)| *n == name) {
            None => c.breaking(entry, format!("{kind} {name} ({number:#x}) removed")),
            Some(&(_, n)) if n != number => c.breaking(
                entry,
                format!("{kind} {name} changed from {number:#x} to {n:#x}"),
            ),
            Some(_) => {}
        }
        if let Some((other, _)) = new.iter().find(|(n, v)| *v == number && *n != name) {
            c.breaking(
                entry,
                format!("{kind} {number:#x} of {name} reused by {other}"),
            );
        }
    }
    for &(name, number) in new {
        if !old.iter().any(|(n, _)| *n == name) {
            c.compatible(entry, format!("{kind} {name} ({number:#x}) added"));
        }
    }
}

fn compare_enums(c: &mut Changes, old: &[EnumType], new: &[EnumType]) {
    let members = |e: &EnumType| -> Vec<(String, u64)> {
        e.values.iter().map(|v| (v.name.clone(), v.value)).collect()
    };
    compare_types(
        c,
        "enum",
        old,
        new,
        |e| &e.name,
        |c, entry, o, n| {
            let (o, n) = (members(o), members(n));
            compare_members(c, entry, "value", &borrow(&o), &borrow(&n));
        },
    );
}

fn compare_flag_sets(c: &mut Changes, old: &[FlagSet], new: &[FlagSet]) {
    let members = |f: &FlagSet| -> Vec<(String, u64)> {
        f.flags
            .iter()
            .map(|b| (b.name.clone(), u64::from(b.bit)))
            .collect()
    };
    compare_types(
        c,
        "flag set",
        old,
        new,
        |f| &f.name,
        |c, entry, o, n| {
            compare_members(c, entry, "bit", &borrow(&members(o)), &borrow(&members(n)));
            for r in &n.rules {
                if !o.rules.iter().any(|q| q.text() == r.text()) {
                    c.breaking(entry, format!("gained rule `{}`", r.text()));
                }
            }
            for r in &o.rules {
                if !n.rules.iter().any(|q| q.text() == r.text()) {
                    c.compatible(entry, format!("lost rule `{}`", r.text()));
                }
            }
        },
    );
}

fn borrow(members: &[(String, u64)]) -> Vec<(&str, u64)> {
    members.iter().map(|(n, v)| (n.as_str(), *v)).collect()
}

/// Matches enum or flag-set types by name: a type removed is breaking (its
/// operands are reported as retyped), one added compatible, and a type in
/// both is compared by `members`.
fn compare_types<T>(
    c: &mut Changes,
    kind: &str,
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &String,
    members: impl Fn(&mut Changes, &str, &T, &T),
) {
    for o in old {
        let entry = format!("{kind} {}", name(o));
        match new.iter().find(|n| name(n) == name(o)) {
            None => c.breaking(&entry, "removed".into()),
            Some(n) => members(c, &entry, o, n),
        }
    }
    for n in new {
        if !old.iter().any(|o| name(o) == name(n)) {
            c.compatible(&format!("{kind} {}", name(n)), "added".into());
        }
    }
}

fn compare_methods(c: &mut Changes, old: &Spec, new: &Spec) {
    let members = |s: &Spec| -> Vec<(String, u64)> {
        s.methods.iter().map(|m| (m.name.clone(), m.id)).collect()
    };
    compare_members(
        c,
        "methods",
        "method",
        &borrow(&members(old)),
        &borrow(&members(new)),
    );
}
