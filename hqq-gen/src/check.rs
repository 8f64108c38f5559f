//! Checks a [`raw::Spec`] and resolves it into a [`Spec`].
//!
//! Every problem is collected (not just the first), each with the position of
//! the offending entry, so one run of `hqq-gen check` shows them all.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use crate::error::SpecError;
use crate::locate::Positions;
use crate::model::{
    raw, Direction, EnumType, EnumValue, Flag, FlagRule, FlagSet, Imported, Layer, Method, Opcode,
    OpcodeRanges, Operand, OperandType, Protocol, RpcType, Scalar, Spec, UnknownBits, Version,
};
use crate::names;
use crate::rule::{self, RuleOperand, RuleOperandKind};

/// The packet shape the generator supports (wire-compat.md, "Packet").
const PACKET_SIZE: u64 = 64;
const PACKET_WORDS: u64 = 8;
const MAX_OPERANDS: usize = 7;

/// Type names the generated module defines itself.
const GENERATED_NAMES: [&str; 3] = ["OpCode", "Message", "Handler"];

/// Method names the generated `rpc::Client` and `rpc::Server` define
/// themselves.
const GENERATED_METHODS: [&str; 4] = ["new", "on_connection", "link", "should_stop"];

/// Checks `raw` and resolves it, or returns every error found. `imports`
/// are the specs `raw.imports` names, in the same order, already checked.
pub fn resolve(
    raw: &raw::Spec,
    file: &str,
    positions: &Positions,
    imports: &[Spec],
) -> Result<Spec, Vec<SpecError>> {
    let mut cx = Checker {
        file,
        positions,
        errors: Vec::new(),
        import_files: imports.iter().map(|s| s.file.clone()).collect(),
    };
    let spec = cx.spec(raw, imports);
    if cx.errors.is_empty() {
        Ok(spec)
    } else {
        cx.errors
            .sort_by_key(|e| (e.line.unwrap_or(usize::MAX), e.column.unwrap_or(0)));
        Err(cx.errors)
    }
}

struct Checker<'a> {
    file: &'a str,
    positions: &'a Positions,
    errors: Vec<SpecError>,
    /// The file of each `imports:` entry, for messages.
    import_files: Vec<String>,
}

/// What a type name refers to.
#[derive(Clone, Copy)]
enum TypeRef {
    Enum(usize),
    Flags(usize),
    Opcode,
    Generated,
}

impl Checker<'_> {
    fn error(
        &mut self,
        path: &str,
        entry: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let pos = self.positions.find(path);
        self.errors.push(SpecError {
            file: self.file.to_owned(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            entry: entry.into(),
            message: message.into(),
            hint,
        });
    }

    fn line_of(&self, path: &str) -> String {
        match self.positions.find(path) {
            Some(p) => format!(" (line {})", p.line),
            None => String::new(),
        }
    }

    /// Checks that `name` is an UpperCamelCase identifier.
    fn type_name(&mut self, path: &str, what: &str, name: &str) {
        if !names::is_upper_camel(name) {
            self.error(
                path,
                format!("{what} `{name}`"),
                "name is not a valid UpperCamelCase identifier",
                Some(
                    "use letters and digits, starting with an uppercase letter, e.g. `ConnCopy`"
                        .into(),
                ),
            );
        }
    }

    fn spec(&mut self, raw: &raw::Spec, imports: &[Spec]) -> Spec {
        let protocol = self.protocol(&raw.protocol);
        self.packet(raw, protocol.layer);
        let ranges = self.ranges(raw, protocol.layer);

        let mut types: HashMap<String, (TypeRef, String)> = HashMap::new();
        for generated in GENERATED_NAMES {
            types.insert(generated.to_owned(), (TypeRef::Generated, String::new()));
        }
        // Imported types come first, so their indices do not depend on the
        // spec's own ones.
        let (mut enums, mut flags) = self.imported_types(&mut types, imports);
        for (i, e) in raw.enums.iter().enumerate() {
            let path = format!("enums[{i}]");
            let r = TypeRef::Enum(enums.len());
            self.declare_type(&mut types, &path, "enum", &e.name, r);
            enums.push(self.enum_type(&path, e));
        }
        for (i, f) in raw.flags.iter().enumerate() {
            let path = format!("flags[{i}]");
            let r = TypeRef::Flags(flags.len());
            self.declare_type(&mut types, &path, "flag set", &f.name, r);
            flags.push(self.flag_set(&path, f));
        }

        let mut codes: HashMap<u64, (String, String)> = HashMap::new();
        let mut opcodes = Vec::new();
        for (i, op) in raw.opcodes.iter().enumerate() {
            let path = format!("opcodes[{i}]");
            self.declare_opcode(&mut codes, &mut types, &path, op);
            if let Some(op) = self.opcode(&path, op, &ranges, protocol.layer, &types, &flags) {
                opcodes.push(op);
            }
        }

        let methods = self.methods(&raw.methods, &opcodes);

        Spec {
            file: self.file.to_owned(),
            protocol,
            ranges,
            enums,
            flags,
            opcodes,
            methods,
        }
    }

    /// Records `op`'s code and name, reporting a code or a name that is
    /// taken (by another opcode, a type or the generated code).
    fn declare_opcode(
        &mut self,
        codes: &mut HashMap<u64, (String, String)>,
        types: &mut HashMap<String, (TypeRef, String)>,
        path: &str,
        op: &raw::Opcode,
    ) {
        if let Some((first, first_path)) = codes.get(&op.code) {
            let line = self.line_of(first_path);
            self.error(
                &format!("{path}.code"),
                format!("opcode `{}`", op.name),
                format!(
                    "duplicate opcode code {:#04x}: `{}` reuses the code of `{first}`{line}",
                    op.code, op.name
                ),
                Some("every opcode needs its own code".into()),
            );
        } else {
            codes.insert(op.code, (op.name.clone(), path.to_owned()));
        }
        match types.get(&op.name) {
            Some((TypeRef::Generated, _)) => self.error(
                &format!("{path}.name"),
                format!("opcode `{}`", op.name),
                format!("`{}` is a name the generated code uses itself", op.name),
                Some(format!(
                    "rename the opcode; {} are taken",
                    GENERATED_NAMES.join(", ")
                )),
            ),
            Some((_, first_path)) => {
                let line = self.line_of(first_path);
                let first_path = self.place(first_path);
                let what = if first_path.starts_with("opcodes") {
                    "opcode name"
                } else {
                    "name"
                };
                self.error(
                    &format!("{path}.name"),
                    format!("opcode `{}`", op.name),
                    format!(
                        "duplicate {what} `{}`, first defined at {first_path}{line}",
                        op.name
                    ),
                    Some("opcode, enum and flag-set names share one namespace".into()),
                );
            }
            None => {
                types.insert(op.name.clone(), (TypeRef::Opcode, path.to_owned()));
            }
        }
    }

    /// Checks `methods:`: snake_case names that the generated client and
    /// server do not use themselves, unique names and unique non-zero ids.
    fn methods(&mut self, raw: &[raw::Method], opcodes: &[Opcode]) -> Vec<Method> {
        let mut ids: HashMap<u64, (String, String)> = HashMap::new();
        let mut names: HashMap<String, String> = HashMap::new();
        for (i, m) in raw.iter().enumerate() {
            let path = format!("methods[{i}]");
            let entry = format!("method `{}`", m.name);
            if !names::is_snake(&m.name) {
                self.error(
                    &format!("{path}.name"),
                    entry.clone(),
                    "name is not a valid snake_case identifier",
                    Some("use lowercase letters, digits and `_`, starting with a letter, e.g. `get_value`".into()),
                );
            } else if GENERATED_METHODS.contains(&m.name.as_str()) {
                self.error(
                    &format!("{path}.name"),
                    entry.clone(),
                    format!(
                        "`{}` is a name the generated client and server use themselves",
                        m.name
                    ),
                    Some(format!(
                        "rename the method; {} are taken",
                        GENERATED_METHODS.join(", ")
                    )),
                );
            }
            if let Some(first) = names.get(&m.name) {
                let line = self.line_of(first);
                let first = first.clone();
                self.error(
                    &format!("{path}.name"),
                    entry.clone(),
                    format!(
                        "duplicate method name `{}`, first defined at {first}{line}",
                        m.name
                    ),
                    Some("every method needs its own name".into()),
                );
            } else {
                names.insert(m.name.clone(), path.clone());
            }
            if m.id == 0 {
                self.error(
                    &format!("{path}.id"),
                    entry.clone(),
                    "method id 0 is not allowed",
                    Some("method ids start at 1 (0 marks a chunk that carries no method)".into()),
                );
            } else if let Some((first, first_path)) = ids.get(&m.id) {
                let line = self.line_of(first_path);
                let first = first.clone();
                self.error(
                    &format!("{path}.id"),
                    entry,
                    format!(
                        "duplicate method id {}: `{}` reuses the id of `{first}`{line}",
                        m.id, m.name
                    ),
                    Some("every method needs its own id".into()),
                );
            } else {
                ids.insert(m.id, (m.name.clone(), path.clone()));
            }
        }
        raw.iter()
            .enumerate()
            .map(|(i, m)| Method {
                id: m.id,
                name: m.name.clone(),
                doc: m.doc.trim_end().to_owned(),
                request: self.rpc_type(&format!("methods[{i}].request"), m, &m.request, opcodes),
                response: self.rpc_type(&format!("methods[{i}].response"), m, &m.response, opcodes),
            })
            .collect()
    }

    /// A method's `request:` or `response:`: `bytes` (or absent) or a packet.
    fn rpc_type(
        &mut self,
        path: &str,
        m: &raw::Method,
        ty: &Option<raw::RpcType>,
        opcodes: &[Opcode],
    ) -> RpcType {
        let name = match ty {
            None => return RpcType::Bytes,
            Some(raw::RpcType::Name(name)) if name == "bytes" => return RpcType::Bytes,
            Some(raw::RpcType::Name(name)) => name,
            Some(raw::RpcType::Serde { serde }) => {
                if syn::parse_str::<syn::Path>(serde).is_err() {
                    self.error(
                        path,
                        format!("method `{}`", m.name),
                        format!("`serde: {serde}` is not a Rust type path"),
                        Some("write the type's path, e.g. `serde: crate::kv::Entry`".into()),
                    );
                }
                return RpcType::Serde(serde.clone());
            }
        };
        if let Some(i) = opcodes.iter().position(|op| op.name == *name) {
            return RpcType::Packet(i);
        }
        let known = std::iter::once("bytes").chain(opcodes.iter().map(|op| op.name.as_str()));
        self.error(
            path,
            format!("method `{}`", m.name),
            format!("unknown request or response type `{name}`"),
            Some(format!(
                "a method takes and returns `bytes`, `{{ serde: path::Type }}` or a packet of the spec: {}",
                known.collect::<Vec<_>>().join(", ")
            )),
        );
        RpcType::Bytes
    }

    /// The enums and flag sets of `imports`, declared in `types` under the
    /// import entry's path. A type reached through two imports from the
    /// same defining spec is taken once.
    fn imported_types(
        &mut self,
        types: &mut HashMap<String, (TypeRef, String)>,
        imports: &[Spec],
    ) -> (Vec<EnumType>, Vec<FlagSet>) {
        let mut enums: Vec<EnumType> = Vec::new();
        let mut flags: Vec<FlagSet> = Vec::new();
        for (k, spec) in imports.iter().enumerate() {
            let path = format!("imports[{k}]");
            let origin = |imported: &Option<Imported>| {
                imported.clone().unwrap_or_else(|| Imported {
                    file: spec.file.clone(),
                    protocol: spec.protocol.name.clone(),
                    layer: spec.protocol.layer,
                })
            };
            for e in &spec.enums {
                let imported = Some(origin(&e.imported));
                let seen = |t: &(TypeRef, String)| matches!(t.0, TypeRef::Enum(j) if enums[j].imported == imported);
                if !types.get(&e.name).is_some_and(seen) {
                    let r = TypeRef::Enum(enums.len());
                    self.declare_type(types, &path, "enum", &e.name, r);
                    enums.push(EnumType {
                        imported,
                        ..e.clone()
                    });
                }
            }
            for f in &spec.flags {
                let imported = Some(origin(&f.imported));
                let seen = |t: &(TypeRef, String)| matches!(t.0, TypeRef::Flags(j) if flags[j].imported == imported);
                if !types.get(&f.name).is_some_and(seen) {
                    let r = TypeRef::Flags(flags.len());
                    self.declare_type(types, &path, "flag set", &f.name, r);
                    flags.push(FlagSet {
                        imported,
                        ..f.clone()
                    });
                }
            }
        }
        (enums, flags)
    }

    /// `path` for messages: an import entry also names its file.
    fn place(&self, path: &str) -> String {
        if path.starts_with("imports[") {
            format!("{path} ({})", self.import_file(path))
        } else {
            path.to_owned()
        }
    }

    /// The file of the import entry `imports[k]`.
    fn import_file(&self, path: &str) -> &str {
        path.strip_prefix("imports[")
            .and_then(|rest| rest.split(']').next())
            .and_then(|k| k.parse::<usize>().ok())
            .and_then(|k| self.import_files.get(k))
            .map_or("?", String::as_str)
    }

    fn declare_type(
        &mut self,
        types: &mut HashMap<String, (TypeRef, String)>,
        path: &str,
        what: &str,
        name: &str,
        r: TypeRef,
    ) {
        let imported = path.starts_with("imports[");
        let at = if imported {
            format!("{path}.path")
        } else {
            self.type_name(&format!("{path}.name"), what, name);
            format!("{path}.name")
        };
        match types.get(name) {
            Some((TypeRef::Generated, _)) => self.error(
                &at,
                format!("{what} `{name}`"),
                format!("`{name}` is a name the generated code uses itself"),
                Some(format!(
                    "rename it; {} are taken",
                    GENERATED_NAMES.join(", ")
                )),
            ),
            Some((_, first)) => {
                let line = self.line_of(first);
                let first = self.place(first);
                let message = if imported {
                    format!(
                        "imports `{name}` from {}, already defined at {first}{line}",
                        self.import_file(path)
                    )
                } else {
                    format!("duplicate type name `{name}`, first defined at {first}{line}")
                };
                self.error(&at, format!("{what} `{name}`"), message, None);
            }
            None => {
                types.insert(name.to_owned(), (r, path.to_owned()));
            }
        }
    }

    fn protocol(&mut self, raw: &raw::Protocol) -> Protocol {
        let layer = match raw.layer.as_str() {
            "core" => Layer::Core,
            "application" => Layer::Application,
            other => {
                self.error(
                    "protocol.layer",
                    "protocol",
                    format!("unknown layer `{other}`"),
                    Some("use `core` (the HQQ protocol itself) or `application`".into()),
                );
                Layer::Application
            }
        };
        let mut part = |field: &str, value: u64| -> u8 {
            u8::try_from(value).unwrap_or_else(|_| {
                self.error(
                    &format!("protocol.version.{field}"),
                    "protocol version",
                    format!("{field} version {value} does not fit the wire encoding"),
                    Some("major and minor are one byte each: `(major << 8) | minor`".into()),
                );
                0
            })
        };
        let version = Version {
            major: part("major", raw.version.major),
            minor: part("minor", raw.version.minor),
        };
        if raw.name.trim().is_empty() {
            self.error(
                "protocol.name",
                "protocol",
                "the protocol name is empty",
                None,
            );
        }
        Protocol {
            name: raw.name.clone(),
            layer,
            version,
            doc: raw.doc.trim_end().to_owned(),
            compatibility: raw.compatibility.trim_end().to_owned(),
        }
    }

    fn packet(&mut self, raw: &raw::Spec, layer: Layer) {
        let Some(p) = &raw.packet else {
            if layer == Layer::Core {
                self.error(
                    "protocol",
                    "packet",
                    "a core spec must describe the packet shape",
                    Some("add `packet: { size: 64, words: 8, byte_order: little, opcode: ..., operands: 7 }`".into()),
                );
            }
            return;
        };
        let mut expect = |field: &str, found: String, wanted: String| {
            if found != wanted {
                self.error(
                    &format!("packet.{field}"),
                    "packet",
                    format!("packet {field} is {found}, but HQQ packets have {wanted}"),
                    Some("the packet shape is fixed by wire-compat.md: 64 bytes, 8 little-endian words, 7 operands".into()),
                );
            }
        };
        expect("size", p.size.to_string(), PACKET_SIZE.to_string());
        expect("words", p.words.to_string(), PACKET_WORDS.to_string());
        expect("byte_order", p.byte_order.clone(), "little".into());
        expect("operands", p.operands.to_string(), MAX_OPERANDS.to_string());
    }

    fn range(&mut self, path: &str, r: &raw::Range) -> Option<RangeInclusive<u8>> {
        match (u8::try_from(r.first), u8::try_from(r.last)) {
            (Ok(first), Ok(last)) if first <= last => Some(first..=last),
            _ => {
                self.error(
                    path,
                    "opcode range",
                    format!("{:#x}..={:#x} is not a range of opcode bytes", r.first, r.last),
                    Some("opcodes are one byte; write `{ first: 0x80, last: 0xEF }` with first <= last".into()),
                );
                None
            }
        }
    }

    fn ranges(&mut self, raw: &raw::Spec, layer: Layer) -> OpcodeRanges {
        let Some(r) = &raw.ranges else {
            if layer == Layer::Core {
                self.error(
                    "protocol",
                    "ranges",
                    "a core spec must say which opcodes it owns",
                    Some("add `ranges: { core: [...], application: { first, last } }`".into()),
                );
            }
            return OpcodeRanges::hqq();
        };
        let core: Vec<_> = r
            .core
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.range(&format!("ranges.core[{i}]"), c))
            .collect();
        let application = self
            .range("ranges.application", &r.application)
            .unwrap_or(0x80..=0xEF);
        for c in &core {
            if c.start() <= application.end() && application.start() <= c.end() {
                self.error(
                    "ranges.application",
                    "opcode range",
                    format!(
                        "the application range {:#04x}..={:#04x} overlaps the core range {:#04x}..={:#04x}",
                        application.start(),
                        application.end(),
                        c.start(),
                        c.end()
                    ),
                    None,
                );
            }
        }
        OpcodeRanges { core, application }
    }

    fn enum_type(&mut self, path: &str, e: &raw::Enum) -> EnumType {
        let entry = format!("enum `{}`", e.name);
        if e.values.is_empty() {
            self.error(path, &entry, "an enum needs at least one value", None);
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut values: HashMap<u64, usize> = HashMap::new();
        for (i, v) in e.values.iter().enumerate() {
            let vpath = format!("{path}.values[{i}]");
            self.type_name(&format!("{vpath}.name"), "enum value", &v.name);
            if let Some(first) = names.insert(&v.name, i) {
                let line = self.line_of(&format!("{path}.values[{first}]"));
                self.error(
                    &format!("{vpath}.name"),
                    &entry,
                    format!("duplicate value name `{}`{line}", v.name),
                    None,
                );
            }
            if let Some(first) = values.insert(v.value, i) {
                let line = self.line_of(&format!("{path}.values[{first}]"));
                self.error(
                    &format!("{vpath}.value"),
                    &entry,
                    format!(
                        "duplicate value {:#04x}: `{}` reuses the value of `{}`{line}",
                        v.value, v.name, e.values[first].name
                    ),
                    None,
                );
            }
        }
        EnumType {
            name: e.name.clone(),
            doc: e.doc.trim_end().to_owned(),
            error: e.error,
            values: e
                .values
                .iter()
                .map(|v| EnumValue {
                    name: v.name.clone(),
                    value: v.value,
                    doc: v.doc.trim_end().to_owned(),
                })
                .collect(),
            imported: None,
        }
    }

    fn flag_set(&mut self, path: &str, f: &raw::FlagSet) -> FlagSet {
        let entry = format!("flag set `{}`", f.name);
        let flags = self.flags(path, &entry, f);
        let rules = self.flag_rules(path, &entry, f);
        FlagSet {
            name: f.name.clone(),
            doc: f.doc.trim_end().to_owned(),
            flags,
            rules,
            imported: None,
        }
    }

    /// The flags of a set: names and bits unique, bits in 0..64.
    fn flags(&mut self, path: &str, entry: &str, f: &raw::FlagSet) -> Vec<Flag> {
        let entry = entry.to_owned();
        let mut flags = Vec::new();
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut bits: HashMap<u64, usize> = HashMap::new();
        for (i, b) in f.bits.iter().enumerate() {
            let bpath = format!("{path}.bits[{i}]");
            self.type_name(&format!("{bpath}.name"), "flag", &b.name);
            if let Some(first) = names.insert(&b.name, i) {
                let line = self.line_of(&format!("{path}.bits[{first}]"));
                self.error(
                    &format!("{bpath}.name"),
                    &entry,
                    format!("duplicate flag name `{}`{line}", b.name),
                    None,
                );
            }
            if b.bit >= 64 {
                self.error(
                    &format!("{bpath}.bit"),
                    &entry,
                    format!(
                        "flag `{}` uses bit {}, outside the 64-bit operand",
                        b.name, b.bit
                    ),
                    Some("bits are numbered 0..=63".into()),
                );
                continue;
            }
            if let Some(first) = bits.insert(b.bit, i) {
                let line = self.line_of(&format!("{path}.bits[{first}]"));
                self.error(
                    &format!("{bpath}.bit"),
                    &entry,
                    format!(
                        "overlapping bits: flag `{}` uses bit {}, already used by `{}`{line}",
                        b.name, b.bit, f.bits[first].name
                    ),
                    Some("give every flag its own bit".into()),
                );
            }
            flags.push(Flag {
                name: b.name.clone(),
                bit: b.bit as u32,
                doc: b.doc.trim_end().to_owned(),
            });
        }
        flags
    }

    /// The rules of a flag set, each naming flags of the set.
    fn flag_rules(&mut self, path: &str, entry: &str, f: &raw::FlagSet) -> Vec<FlagRule> {
        let entry = entry.to_owned();
        let names: std::collections::HashSet<&str> =
            f.bits.iter().map(|b| b.name.as_str()).collect();
        let mut rules = Vec::new();
        for (i, r) in f.rules.iter().enumerate() {
            let rpath = format!("{path}.rules[{i}]");
            let known = |this: &mut Self, name: &str| {
                let ok = names.contains(name);
                if !ok {
                    this.error(
                        &rpath,
                        &entry,
                        format!("rule names unknown flag `{name}`"),
                        Some(format!(
                            "the flags of `{}` are: {}",
                            f.name,
                            list(f.bits.iter().map(|b| &b.name))
                        )),
                    );
                }
                ok
            };
            match (&r.exclusive, &r.flag, &r.requires) {
                (Some(set), None, None) if set.len() >= 2 => {
                    if set.iter().all(|n| known(self, n)) {
                        rules.push(FlagRule::Exclusive {
                            flags: set.clone(),
                            doc: r.doc.trim_end().to_owned(),
                        });
                    }
                }
                (None, Some(flag), Some(requires)) => {
                    if known(self, flag) & known(self, requires) {
                        rules.push(FlagRule::Requires {
                            flag: flag.clone(),
                            requires: requires.clone(),
                            doc: r.doc.trim_end().to_owned(),
                        });
                    }
                }
                _ => self.error(
                    &rpath,
                    &entry,
                    "a flag rule is either `exclusive: [A, B, ...]` or `flag: A` with `requires: B`",
                    None,
                ),
            }
        }
        rules
    }

    fn opcode(
        &mut self,
        path: &str,
        op: &raw::Opcode,
        ranges: &OpcodeRanges,
        layer: Layer,
        types: &HashMap<String, (TypeRef, String)>,
        flags: &[FlagSet],
    ) -> Option<Opcode> {
        let entry = format!("opcode `{}`", op.name);
        self.type_name(&format!("{path}.name"), "opcode", &op.name);
        let code = self.opcode_code(path, &entry, op, ranges, layer);
        let direction = self.direction(path, &entry, &op.direction);
        if op.operands.len() > MAX_OPERANDS {
            self.error(
                &format!("{path}.operands[{MAX_OPERANDS}]"),
                &entry,
                format!(
                    "{} operands, but a packet carries at most {MAX_OPERANDS}",
                    op.operands.len()
                ),
                Some("move data into the slot's payload buffer or split the packet".into()),
            );
        }
        let mut operands = self.operands(path, &entry, op, types);
        self.operand_rules(path, &entry, op, &mut operands, flags);
        Some(Opcode {
            code: code?,
            name: op.name.clone(),
            direction,
            doc: op.doc.trim_end().to_owned(),
            operands,
        })
    }

    /// The opcode byte, if it lies in the ranges `layer` may use.
    fn opcode_code(
        &mut self,
        path: &str,
        entry: &str,
        op: &raw::Opcode,
        ranges: &OpcodeRanges,
        layer: Layer,
    ) -> Option<u8> {
        let allowed = ranges.allowed(layer);
        let code = u8::try_from(op.code).ok();
        if code.is_some_and(|c| allowed.iter().any(|r| r.contains(&c))) {
            return code;
        }
        let which = match layer {
            Layer::Core => "core",
            Layer::Application => "application",
        };
        self.error(
            &format!("{path}.code"),
            entry,
            format!(
                "opcode {:#04x} is outside the {which} opcode ranges ({})",
                op.code,
                allowed
                    .iter()
                    .map(|r| format!("{:#04x}..={:#04x}", r.start(), r.end()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(match layer {
                Layer::Core => {
                    "the core protocol owns these ranges; applications use `layer: application`"
                        .into()
                }
                Layer::Application => {
                    "application opcodes must not collide with the core protocol's".into()
                }
            }),
        );
        code
    }

    fn direction(&mut self, path: &str, entry: &str, direction: &str) -> Direction {
        match direction {
            "primary->secondary" => Direction::PrimaryToSecondary,
            "secondary->primary" => Direction::SecondaryToPrimary,
            "both" => Direction::Both,
            other => {
                self.error(
                    &format!("{path}.direction"),
                    entry,
                    format!("unknown direction `{other}`"),
                    Some("use `primary->secondary`, `secondary->primary` or `both`".into()),
                );
                Direction::Both
            }
        }
    }

    /// The operands with resolved types (rules come later, once every
    /// operand's type is known).
    fn operands(
        &mut self,
        path: &str,
        entry: &str,
        op: &raw::Opcode,
        types: &HashMap<String, (TypeRef, String)>,
    ) -> Vec<Operand> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut operands = Vec::new();
        for (i, o) in op.operands.iter().enumerate() {
            let opath = format!("{path}.operands[{i}]");
            if !names::is_snake(&o.name) {
                self.error(
                    &format!("{opath}.name"),
                    entry,
                    format!("operand name `{}` is not a valid snake_case identifier", o.name),
                    Some("use lowercase letters, digits and `_`, starting with a letter, and no Rust keyword".into()),
                );
            }
            if let Some(first) = seen.insert(&o.name, i) {
                let line = self.line_of(&format!("{path}.operands[{first}]"));
                self.error(
                    &format!("{opath}.name"),
                    entry,
                    format!(
                        "duplicate operand name `{}` (operands {first} and {i}){line}",
                        o.name
                    ),
                    None,
                );
            }
            let ty = self.operand_type(&opath, entry, o, types);
            let ty = self.unknown_bits(&opath, entry, o, ty);
            if let Some(ty) = ty {
                operands.push(Operand {
                    name: o.name.clone(),
                    index: i,
                    ty,
                    doc: o.doc.trim_end().to_owned(),
                    rules: Vec::new(),
                });
            }
        }
        operands
    }

    /// The operand's `type`, resolved against the spec's enums and flag sets.
    fn operand_type(
        &mut self,
        opath: &str,
        entry: &str,
        o: &raw::Operand,
        types: &HashMap<String, (TypeRef, String)>,
    ) -> Option<OperandType> {
        match (o.ty.as_str(), types.get(&o.ty)) {
            ("u64", _) => return Some(OperandType::U64),
            ("version", _) => return Some(OperandType::Version),
            (name, _) if Scalar::from_name(name).is_some() => {
                return Scalar::from_name(name).map(OperandType::Scalar)
            }
            (_, Some((TypeRef::Enum(e), _))) => return Some(OperandType::Enum(*e)),
            (_, Some((TypeRef::Flags(set), _))) => {
                return Some(OperandType::Flags {
                    set: *set,
                    unknown_bits: UnknownBits::Reject,
                })
            }
            _ => {}
        }
        let mut known: Vec<&str> = vec!["u64", "version"];
        known.extend(Scalar::ALL.iter().map(|s| s.name()));
        known.extend(types.iter().filter_map(|(n, (r, _))| match r {
            TypeRef::Enum(_) | TypeRef::Flags(_) => Some(n.as_str()),
            TypeRef::Opcode | TypeRef::Generated => None,
        }));
        known.sort_unstable();
        let close = names::closest(&o.ty, known.iter().copied());
        self.error(
            &format!("{opath}.type"),
            entry,
            format!("operand `{}` refers to unknown type `{}`", o.name, o.ty),
            Some(match close {
                Some(c) => format!("did you mean `{c}`? known types: {}", known.join(", ")),
                None => format!("known types: {}", known.join(", ")),
            }),
        );
        None
    }

    /// Applies the operand's `unknown_bits:` (flag sets only) to its type.
    fn unknown_bits(
        &mut self,
        opath: &str,
        entry: &str,
        o: &raw::Operand,
        ty: Option<OperandType>,
    ) -> Option<OperandType> {
        match (ty, o.unknown_bits.as_deref()) {
            (ty, None) => ty,
            (Some(OperandType::Flags { set, .. }), Some(policy @ ("reject" | "drop"))) => {
                Some(OperandType::Flags {
                    set,
                    unknown_bits: if policy == "drop" {
                        UnknownBits::Drop
                    } else {
                        UnknownBits::Reject
                    },
                })
            }
            (ty, Some(policy)) => {
                self.error(
                    &format!("{opath}.unknown_bits"),
                    entry,
                    format!("`unknown_bits: {policy}` on operand `{}`", o.name),
                    Some(
                        "`unknown_bits` is `reject` or `drop`, and only for flag-set operands"
                            .into(),
                    ),
                );
                ty
            }
        }
    }

    /// Resolves every operand's rules; they refer to sibling operands, so
    /// this runs once all operand types are known.
    fn operand_rules(
        &mut self,
        path: &str,
        entry: &str,
        op: &raw::Opcode,
        operands: &mut [Operand],
        flags: &[FlagSet],
    ) {
        let mut all_rules = Vec::new();
        let kinds: Vec<RuleOperand> = operands
            .iter()
            .map(|o| RuleOperand {
                name: &o.name,
                kind: match o.ty {
                    OperandType::U64
                    | OperandType::Scalar(Scalar::U8 | Scalar::U16 | Scalar::U32) => {
                        RuleOperandKind::Unsigned
                    }
                    OperandType::Flags { set, .. } => RuleOperandKind::Flags(flags.get(set)),
                    OperandType::Scalar(Scalar::I64 | Scalar::Bool)
                    | OperandType::Version
                    | OperandType::Enum(_) => RuleOperandKind::Other,
                },
            })
            .collect();
        for (i, o) in op.operands.iter().enumerate() {
            let mut rules = Vec::new();
            for (j, r) in o.rules.iter().enumerate() {
                let rpath = format!("{path}.operands[{i}].rules[{j}]");
                match rule::parse(&r.check, r.when.as_deref(), &r.doc, &kinds) {
                    Ok(rule) => rules.push(rule),
                    Err(e) => self.error(
                        &rpath,
                        entry,
                        format!("operand `{}`: {}", o.name, e.message),
                        e.hint,
                    ),
                }
            }
            all_rules.push((o.name.clone(), rules));
        }
        for (name, rules) in all_rules {
            if let Some(operand) = operands.iter_mut().find(|o| o.name == name) {
                operand.rules = rules;
            }
        }
    }
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
