//! Segment names: which strings may name a shared-memory segment.
//!
//! A segment name is the file name the segment has under `/dev/shm`, written
//! without the leading `/` that `shm_open(3)` wants. hqq accepts a
//! conservative subset of what the kernel would allow, so that a name is
//! always a plain, portable file name that needs no quoting in a shell:
//!
//! - 1 to [`MAX_SEGMENT_NAME_LEN`] bytes;
//! - only ASCII letters, digits, `.`, `_` and `-`;
//! - not `.` or `..`.

/// Longest accepted segment name, in bytes.
///
/// glibc's `shm_open` refuses a name whose length plus its terminating NUL
/// reaches `NAME_MAX` (255), so 253 bytes is the longest name every Linux
/// C library accepts.
pub const MAX_SEGMENT_NAME_LEN: usize = 253;

/// Why a string is not a valid segment name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SegmentNameError {
    /// The name is the empty string.
    #[error("segment name is empty")]
    Empty,
    /// The name is longer than [`MAX_SEGMENT_NAME_LEN`] bytes.
    #[error("segment name is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Length of the rejected name, in bytes.
        len: usize,
        /// The limit, [`MAX_SEGMENT_NAME_LEN`].
        max: usize,
    },
    /// The name contains a character outside `[A-Za-z0-9._-]` (for example
    /// `/`, a NUL byte, a space or a non-ASCII character).
    #[error(
        "segment name contains {found:?} at byte {index}; only ASCII letters, digits, '.', '_' and '-' are allowed"
    )]
    InvalidChar {
        /// The offending character.
        found: char,
        /// Its byte offset in the name.
        index: usize,
    },
    /// The name is `.` or `..`, which name directories, not segments.
    #[error("segment name must not be \".\" or \"..\"")]
    DotName,
}

/// Checks that `name` is a valid segment name: 1 to
/// [`MAX_SEGMENT_NAME_LEN`] bytes of ASCII letters, digits, `.`, `_` and
/// `-`, and neither `.` nor `..`. The name is the file name under
/// `/dev/shm`, without the leading `/` that `shm_open(3)` wants.
///
/// ```
/// use hqq_runtime::segment::{validate_segment_name, SegmentNameError};
///
/// assert!(validate_segment_name("hqq-orders.v1").is_ok());
/// assert_eq!(validate_segment_name(""), Err(SegmentNameError::Empty));
/// assert!(matches!(
///     validate_segment_name("a/b"),
///     Err(SegmentNameError::InvalidChar { found: '/', index: 1 })
/// ));
/// ```
pub fn validate_segment_name(name: &str) -> Result<(), SegmentNameError> {
    if name.is_empty() {
        return Err(SegmentNameError::Empty);
    }
    if name.len() > MAX_SEGMENT_NAME_LEN {
        return Err(SegmentNameError::TooLong {
            len: name.len(),
            max: MAX_SEGMENT_NAME_LEN,
        });
    }
    if let Some((index, found)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(SegmentNameError::InvalidChar { found, index });
    }
    if name == "." || name == ".." {
        return Err(SegmentNameError::DotName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_charset() {
        for name in ["a", "hqq-1", "HQQ_link.v2", "-", "...", ".hidden", "0"] {
            assert_eq!(validate_segment_name(name), Ok(()), "{name:?}");
        }
        let longest = "x".repeat(MAX_SEGMENT_NAME_LEN);
        assert_eq!(validate_segment_name(&longest), Ok(()));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(validate_segment_name(""), Err(SegmentNameError::Empty));
        assert_eq!(validate_segment_name("."), Err(SegmentNameError::DotName));
        assert_eq!(validate_segment_name(".."), Err(SegmentNameError::DotName));
        let too_long = "x".repeat(MAX_SEGMENT_NAME_LEN + 1);
        assert_eq!(
            validate_segment_name(&too_long),
            Err(SegmentNameError::TooLong {
                len: MAX_SEGMENT_NAME_LEN + 1,
                max: MAX_SEGMENT_NAME_LEN
            })
        );
        for (name, found, index) in [
            ("/abs", '/', 0),
            ("a/b", '/', 1),
            ("nul\0", '\0', 3),
            ("sp ace", ' ', 2),
            ("é", 'é', 0),
            ("x:y", ':', 1),
        ] {
            assert_eq!(
                validate_segment_name(name),
                Err(SegmentNameError::InvalidChar { found, index }),
                "{name:?}"
            );
        }
    }
}
