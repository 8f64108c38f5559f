//! Spec errors: every problem found in a spec, with the place it was found.

use std::fmt;

/// One problem in a spec, with the file, line and column of the offending
/// entry, what is wrong and how to fix it.
///
/// Displays as `spec/hqq.yaml:42:5: opcode `Foo`: duplicate opcode code 0x04 ... (hint: ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file name as given to [`crate::Spec::parse`].
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The offending entry, e.g. ``opcode `ConnCopy` ``.
    pub entry: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl SpecError {
    /// 1-based line of the offending entry, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// 1-based column of the offending entry, when known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if self.entry.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, ": {}: {}", self.entry, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// All problems found in a spec, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    /// The errors, in file order.
    pub fn errors(&self) -> &[SpecError] {
        &self.0
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}
