//! The spec model: the YAML as written ([`raw`]) and the checked, resolved
//! form ([`Spec`]) that the emitters and hqq-derive read.
//!
//! [`raw`] mirrors the YAML one to one with `deny_unknown_fields`, so a typo
//! in a key is an error, not a silently ignored entry. The checks turn
//! it into a [`Spec`] in which every type reference is resolved and every
//! rule parsed.

use std::ops::RangeInclusive;

/// Structs that mirror the YAML text exactly (serde, `deny_unknown_fields`).
pub mod raw {
    use serde::Deserialize;

    /// The whole file.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Spec {
        /// `protocol:`
        pub protocol: Protocol,
        /// `imports:` other specs whose enums and flag sets this one uses.
        #[serde(default)]
        pub imports: Vec<Import>,
        /// `packet:` (optional in application specs).
        pub packet: Option<Packet>,
        /// `ranges:` (optional in application specs).
        pub ranges: Option<Ranges>,
        /// `enums:`
        #[serde(default)]
        pub enums: Vec<Enum>,
        /// `flags:`
        #[serde(default)]
        pub flags: Vec<FlagSet>,
        /// `opcodes:`
        #[serde(default)]
        pub opcodes: Vec<Opcode>,
        /// `methods:` (RPC methods served over an Advanced link).
        #[serde(default)]
        pub methods: Vec<Method>,
    }

    /// One entry of `imports:`: `{ path }`, relative to the importing file.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Import {
        /// Path of the imported spec.
        pub path: String,
    }

    /// One entry of `methods:`: `{ id, name, doc }`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Method {
        /// Method id (ConnCopy operand 6 of a request's first chunk).
        pub id: u64,
        /// Method name (snake_case).
        pub name: String,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
        /// Request type: `bytes` (default), a packet name or `{ serde }`.
        pub request: Option<RpcType>,
        /// Response type: `bytes` (default), a packet name or `{ serde }`.
        pub response: Option<RpcType>,
    }

    /// `bytes`, a packet name, or `{ serde: path::Type }`.
    #[derive(Debug, Deserialize)]
    #[serde(untagged)]
    pub enum RpcType {
        /// `bytes` or a packet name.
        Name(String),
        /// A Rust type implementing serde's traits, encoded with postcard.
        Serde {
            /// The type's Rust path.
            serde: String,
        },
    }

    /// `protocol: { name, layer, version, doc, compatibility }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Protocol {
        /// Protocol name.
        pub name: String,
        /// `core` or `application`.
        pub layer: String,
        /// Protocol version.
        pub version: Version,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
        /// Notes on compatibility with other versions.
        #[serde(default)]
        pub compatibility: String,
    }

    /// `{ major, minor }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Version {
        /// Major version.
        pub major: u64,
        /// Minor version.
        pub minor: u64,
    }

    /// `packet: { size, words, byte_order, opcode, operands }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Packet {
        /// Bytes per packet.
        pub size: u64,
        /// Words per packet.
        pub words: u64,
        /// `little`.
        pub byte_order: String,
        /// Where the opcode sits (prose).
        pub opcode: String,
        /// Operands per packet.
        pub operands: u64,
    }

    /// `ranges: { core: [Range], application: Range }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Ranges {
        /// Ranges the core protocol owns.
        pub core: Vec<Range>,
        /// The range applications may use.
        pub application: Range,
    }

    /// `{ first, last }`, both inclusive.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Range {
        /// First opcode.
        pub first: u64,
        /// Last opcode (inclusive).
        pub last: u64,
    }

    /// One entry of `enums:`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Enum {
        /// Type name.
        pub name: String,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
        /// Whether the enum is an error type (`std::error::Error`).
        #[serde(default)]
        pub error: bool,
        /// The values.
        pub values: Vec<EnumValue>,
    }

    /// `{ name, value, doc }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EnumValue {
        /// Variant name.
        pub name: String,
        /// Wire value.
        pub value: u64,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
    }

    /// One entry of `flags:`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FlagSet {
        /// Type name.
        pub name: String,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
        /// The flags.
        pub bits: Vec<Flag>,
        /// Invalid combinations.
        #[serde(default)]
        pub rules: Vec<FlagRule>,
    }

    /// `{ name, bit, doc }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Flag {
        /// Flag name.
        pub name: String,
        /// Bit number (0..64).
        pub bit: u64,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
    }

    /// `{ exclusive: [A, B], doc }` or `{ flag: A, requires: B, doc }`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FlagRule {
        /// Flags that are never set together.
        pub exclusive: Option<Vec<String>>,
        /// A flag that needs another one.
        pub flag: Option<String>,
        /// The flag `flag` needs.
        pub requires: Option<String>,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
    }

    /// One entry of `opcodes:`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Opcode {
        /// Opcode byte.
        pub code: u64,
        /// Packet name.
        pub name: String,
        /// `primary->secondary`, `secondary->primary` or `both`.
        pub direction: String,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
        /// Operands in wire order.
        #[serde(default)]
        pub operands: Vec<Operand>,
    }

    /// One operand.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Operand {
        /// Field name.
        pub name: String,
        /// `u64`, `version`, or the name of an enum or flag set.
        #[serde(rename = "type")]
        pub ty: String,
        /// `reject` (default) or `drop`, for flag sets only.
        pub unknown_bits: Option<String>,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
        /// Constraints.
        #[serde(default)]
        pub rules: Vec<Rule>,
    }

    /// `{ check, when, doc }`
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Rule {
        /// The comparison.
        pub check: String,
        /// Optional flag condition.
        pub when: Option<String>,
        /// Documentation.
        #[serde(default)]
        pub doc: String,
    }
}

/// A checked, resolved spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The file name the spec was read from (for messages).
    pub file: String,
    /// Name, layer, version and documentation.
    pub protocol: Protocol,
    /// Opcode ranges of the core protocol and of applications.
    pub ranges: OpcodeRanges,
    /// Enum types, in spec order.
    pub enums: Vec<EnumType>,
    /// Flag-set types, in spec order.
    pub flags: Vec<FlagSet>,
    /// Opcodes, in spec order.
    pub opcodes: Vec<Opcode>,
    /// RPC methods, in spec order (empty if the spec has none).
    pub methods: Vec<Method>,
}

impl Spec {
    /// The names of the types the spec defines: its packets (one per
    /// opcode), enums and flag sets.
    pub fn type_names(&self) -> impl Iterator<Item = &String> {
        self.opcodes
            .iter()
            .map(|o| &o.name)
            .chain(self.enums.iter().map(|e| &e.name))
            .chain(self.flags.iter().map(|f| &f.name))
    }
}

/// An RPC method (`methods:` entry), called and served over an Advanced
/// link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// Method id, non-zero; requests carry it in ConnCopy operand 6.
    pub id: u64,
    /// Method name (snake_case); the generated server and client methods.
    pub name: String,
    /// Documentation.
    pub doc: String,
    /// What a request carries.
    pub request: RpcType,
    /// What a response carries.
    pub response: RpcType,
}

/// The type of an RPC method's request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcType {
    /// Bytes, as they are.
    Bytes,
    /// The packet `Spec::opcodes[i]`, as its 64 bytes.
    Packet(usize),
    /// A Rust type (its path) implementing serde's `Serialize` and
    /// `Deserialize`, encoded with postcard (the runtime's cargo feature
    /// `postcard`).
    Serde(String),
}

/// The `protocol:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Protocol name.
    pub name: String,
    /// Whether the spec defines the core protocol or application opcodes.
    pub layer: Layer,
    /// Protocol version.
    pub version: Version,
    /// Documentation.
    pub doc: String,
    /// Compatibility notes (may be empty).
    pub compatibility: String,
}

/// Which opcodes a spec may define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The core HQQ protocol: opcodes in [`OpcodeRanges::core`].
    Core,
    /// An application protocol: opcodes in [`OpcodeRanges::application`].
    Application,
}

/// A protocol version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

/// Which opcodes belong to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpcodeRanges {
    /// Ranges the core protocol owns.
    pub core: Vec<RangeInclusive<u8>>,
    /// The range applications may use for their own opcodes.
    pub application: RangeInclusive<u8>,
}

impl OpcodeRanges {
    /// The ranges of the HQQ core spec (`hqq-gen/spec/hqq.yaml`), used by
    /// application specs that do not list `ranges:` themselves.
    pub fn hqq() -> Self {
        OpcodeRanges {
            core: vec![0x00..=0x7F, 0xF0..=0xFF],
            application: 0x80..=0xEF,
        }
    }

    /// The ranges a spec of `layer` may put its opcodes in.
    pub fn allowed(&self, layer: Layer) -> Vec<RangeInclusive<u8>> {
        match layer {
            Layer::Core => self.core.clone(),
            Layer::Application => vec![self.application.clone()],
        }
    }
}

/// An enum type (`enums:` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    /// Type name (UpperCamelCase).
    pub name: String,
    /// Documentation.
    pub doc: String,
    /// Whether the generated enum implements `std::error::Error`.
    pub error: bool,
    /// Values in spec order.
    pub values: Vec<EnumValue>,
    /// The spec that defines the type, if this one imports it.
    pub imported: Option<Imported>,
}

/// Where an imported enum or flag set is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The defining spec's file name.
    pub file: String,
    /// The defining spec's protocol name.
    pub protocol: String,
    /// The defining spec's layer: the generated Rust of a spec re-exports
    /// types of the core spec from the runtime's `protocol` module instead
    /// of defining its own copy.
    pub layer: Layer,
}

/// One enum value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    /// Variant name (UpperCamelCase).
    pub name: String,
    /// Wire value.
    pub value: u64,
    /// Documentation.
    pub doc: String,
}

/// A flag-set type (`flags:` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagSet {
    /// Type name (UpperCamelCase).
    pub name: String,
    /// Documentation.
    pub doc: String,
    /// Flags in spec order; no two share a bit.
    pub flags: Vec<Flag>,
    /// Invalid combinations.
    pub rules: Vec<FlagRule>,
    /// The spec that defines the type, if this one imports it.
    pub imported: Option<Imported>,
}

impl FlagSet {
    /// The union of all defined bits.
    pub fn mask(&self) -> u64 {
        self.flags.iter().fold(0, |m, f| m | (1u64 << f.bit))
    }
}

/// One flag of a flag set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Flag name (UpperCamelCase).
    pub name: String,
    /// Bit number, 0..64.
    pub bit: u32,
    /// Documentation.
    pub doc: String,
}

/// A rule on the combination of flags in one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagRule {
    /// At most one of `flags` is set.
    Exclusive {
        /// The flags (names).
        flags: Vec<String>,
        /// Documentation.
        doc: String,
    },
    /// `flag` is set only together with `requires`.
    Requires {
        /// The dependent flag.
        flag: String,
        /// The flag it needs.
        requires: String,
        /// Documentation.
        doc: String,
    },
}

impl FlagRule {
    /// The rule as one short sentence, used in error values and docs.
    pub fn text(&self) -> String {
        match self {
            FlagRule::Exclusive { flags, .. } => format!("{} are exclusive", flags.join(" and ")),
            FlagRule::Requires { flag, requires, .. } => format!("{flag} requires {requires}"),
        }
    }

    /// Documentation.
    pub fn doc(&self) -> &str {
        match self {
            FlagRule::Exclusive { doc, .. } | FlagRule::Requires { doc, .. } => doc,
        }
    }
}

/// Who may send an opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Only the primary sends it.
    PrimaryToSecondary,
    /// Only a secondary sends it.
    SecondaryToPrimary,
    /// Either side sends it.
    Both,
}

impl Direction {
    /// The spelling used in the YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::PrimaryToSecondary => "primary->secondary",
            Direction::SecondaryToPrimary => "secondary->primary",
            Direction::Both => "both",
        }
    }
}

/// One opcode: a packet kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opcode {
    /// The opcode byte.
    pub code: u8,
    /// Packet name (UpperCamelCase); also the generated struct's name.
    pub name: String,
    /// Who sends it.
    pub direction: Direction,
    /// Documentation.
    pub doc: String,
    /// Operands in wire order (operand `i` is word `i + 1`); at most 7.
    pub operands: Vec<Operand>,
}

/// One operand of an opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operand {
    /// Field name (snake_case).
    pub name: String,
    /// Operand index, 0..7.
    pub index: usize,
    /// Type of the field.
    pub ty: OperandType,
    /// Documentation.
    pub doc: String,
    /// Constraints.
    pub rules: Vec<Rule>,
}

/// The type of an operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperandType {
    /// A plain `u64`.
    U64,
    /// A plain integer or boolean of another width, range-checked on decode.
    Scalar(Scalar),
    /// A version, `(major << 8) | minor`.
    Version,
    /// The enum `Spec::enums[i]`.
    Enum(usize),
    /// The flag set `Spec::flags[set]`.
    Flags {
        /// Index into `Spec::flags`.
        set: usize,
        /// What decode does with bits the set does not define.
        unknown_bits: UnknownBits,
    },
}

/// The plain operand types besides `u64`: the Rust types hqq-derive
/// accepts for fields, with the same wire rules (zero-extended; a word above
/// the type's maximum is rejected; `i64` is two's complement, every word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `i64`, two's complement.
    I64,
    /// `bool`: 0 or 1.
    Bool,
}

impl Scalar {
    /// Every scalar type.
    pub const ALL: [Scalar; 5] = [
        Scalar::U8,
        Scalar::U16,
        Scalar::U32,
        Scalar::I64,
        Scalar::Bool,
    ];

    /// The type's name in the spec (and in Rust).
    pub fn name(self) -> &'static str {
        match self {
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::I64 => "i64",
            Scalar::Bool => "bool",
        }
    }

    /// The type named `name` in the spec.
    pub fn from_name(name: &str) -> Option<Scalar> {
        Scalar::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The largest word decode accepts, or `None` if it accepts every word.
    pub fn max(self) -> Option<u64> {
        match self {
            Scalar::U8 => Some(u8::MAX.into()),
            Scalar::U16 => Some(u16::MAX.into()),
            Scalar::U32 => Some(u32::MAX.into()),
            Scalar::I64 => None,
            Scalar::Bool => Some(1),
        }
    }
}

/// What decode does with undefined bits of a flag-set operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownBits {
    /// A decode error.
    Reject,
    /// Cleared silently.
    Drop,
}

/// A constraint on operand values: `when => lhs op rhs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The `check` text, normalized (`offset + size <= total`).
    pub text: String,
    /// Optional condition on a flag-set operand.
    pub when: Option<Condition>,
    /// Left-hand sum.
    pub lhs: Vec<Term>,
    /// Comparison.
    pub op: CmpOp,
    /// Right-hand sum.
    pub rhs: Vec<Term>,
    /// Documentation.
    pub doc: String,
}

impl Rule {
    /// Whether the rule depends on [`Limit`]s (then `validate` checks it,
    /// else `decode` does).
    pub fn needs_limits(&self) -> bool {
        self.lhs
            .iter()
            .chain(&self.rhs)
            .any(|t| matches!(t, Term::Limit(_)))
    }

    /// The rule as written: `when => check` or just `check`.
    pub fn full_text(&self) -> String {
        match &self.when {
            Some(c) => format!("{} when {}", self.text, c.text()),
            None => self.text.clone(),
        }
    }
}

/// `[not] operand.Flag`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Whether the condition is negated (`not`).
    pub negated: bool,
    /// The flag-set operand.
    pub operand: String,
    /// The flag name.
    pub flag: String,
}

impl Condition {
    /// The condition as written.
    pub fn text(&self) -> String {
        let not = if self.negated { "not " } else { "" };
        format!("{not}{}.{}", self.operand, self.flag)
    }
}

/// A term of a rule's sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A `u64` operand of the same opcode.
    Operand(String),
    /// A link limit.
    Limit(Limit),
    /// A constant.
    Literal(u64),
}

/// A link-dependent limit (fields of the runtime's `codec::Limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Bytes per payload buffer.
    BufferSize,
    /// Ring slots (= buffers) per direction.
    SlotCount,
    /// Largest message a receiver reassembles.
    MaxMessageSize,
}

impl Limit {
    /// All limits.
    pub const ALL: [Limit; 3] = [Limit::BufferSize, Limit::SlotCount, Limit::MaxMessageSize];

    /// The field name in `Limits`.
    pub fn field(self) -> &'static str {
        match self {
            Limit::BufferSize => "buffer_size",
            Limit::SlotCount => "slot_count",
            Limit::MaxMessageSize => "max_message_size",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

impl CmpOp {
    /// The operator's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Ge => ">=",
            CmpOp::Gt => ">",
        }
    }
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Term::Operand(name) => f.write_str(name),
            Term::Limit(l) => write!(f, "limits.{}", l.field()),
            Term::Literal(v) => write!(f, "{v}"),
        }
    }
}
