//! Splitting a message into ConnCopy chunks.
//!
//! A message of `total` bytes becomes `ceil(total / buffer_size)` chunks
//! (one for an empty message), each carrying at most one buffer of data in
//! its slot's own buffer. The first chunk has Begin and the method id or
//! status in operand 6, the last has End; every chunk carries the message's
//! kind flags (Request, Response, Response|Error) so that the receiver can
//! key it. An aborted message ends with an Abort chunk whose total, offset
//! and size are 0.

use crate::protocol::{ConnCopy, FrameFlags};

/// What a message is, as its frame flags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// A plain message (no Request or Response flag), e.g. `send_large`.
    Plain,
    /// A request; operand 6 of its first chunk is the method id.
    Request,
    /// A response; operand 6 of its first chunk is the status (0 = ok).
    Response,
}

impl MessageKind {
    /// The kind a chunk's flags name.
    pub const fn of(flags: FrameFlags) -> MessageKind {
        if flags.contains(FrameFlags::REQUEST) {
            MessageKind::Request
        } else if flags.contains(FrameFlags::RESPONSE) {
            MessageKind::Response
        } else {
            MessageKind::Plain
        }
    }

    /// The flags every chunk of a message of this kind carries.
    pub const fn flags(self) -> FrameFlags {
        match self {
            MessageKind::Plain => FrameFlags::empty(),
            MessageKind::Request => FrameFlags::REQUEST,
            MessageKind::Response => FrameFlags::RESPONSE,
        }
    }
}

/// Who a message is and what its first chunk says: everything but the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    /// Connection id (0 = link-level).
    pub connection: u64,
    /// Message id, a per-sender counter starting at 1.
    pub message: u64,
    /// Plain, request or response.
    pub kind: MessageKind,
    /// A response reporting an error (adds the Error flag; needs `Response`).
    pub error: bool,
    /// Method id (request) or status (response); 0 for plain messages.
    pub method_or_status: u64,
}

impl MessageHeader {
    /// The flags every chunk of this message carries.
    pub const fn kind_flags(&self) -> FrameFlags {
        if self.error {
            self.kind.flags().union(FrameFlags::ERROR)
        } else {
            self.kind.flags()
        }
    }

    /// The Abort chunk that discards this message at the receiver.
    pub const fn abort(&self) -> ConnCopy {
        ConnCopy {
            connection: self.connection,
            message: self.message,
            total: 0,
            offset: 0,
            size: 0,
            chunk_flags: self.kind_flags().union(FrameFlags::ABORT),
            method_or_status: 0,
        }
    }

    /// The chunks of a `total`-byte message with buffers of `buffer_size`
    /// bytes (`buffer_size >= 1`).
    ///
    /// ```
    /// use hqq_runtime::advanced::{MessageHeader, MessageKind};
    ///
    /// let header = MessageHeader {
    ///     connection: 0, message: 1, kind: MessageKind::Plain, error: false, method_or_status: 0,
    /// };
    /// let sizes: Vec<u64> = header.chunks(150, 64).map(|c| c.size).collect();
    /// assert_eq!(sizes, [64, 64, 22]);
    /// ```
    pub fn chunks(&self, total: u64, buffer_size: u64) -> Chunks {
        Chunks {
            header: *self,
            total,
            buffer_size: buffer_size.max(1),
            next_offset: 0,
            done: false,
        }
    }
}

/// The ConnCopy chunks of one message, in order (see [`MessageHeader::chunks`]).
#[derive(Debug, Clone)]
pub struct Chunks {
    header: MessageHeader,
    total: u64,
    buffer_size: u64,
    next_offset: u64,
    done: bool,
}

impl Iterator for Chunks {
    type Item = ConnCopy;

    fn next(&mut self) -> Option<ConnCopy> {
        if self.done {
            return None;
        }
        let offset = self.next_offset;
        let size = (self.total - offset).min(self.buffer_size);
        let first = offset == 0;
        let last = offset + size == self.total;
        let mut flags = self.header.kind_flags();
        if first {
            flags |= FrameFlags::BEGIN;
        }
        if last {
            flags |= FrameFlags::END;
            self.done = true;
        }
        self.next_offset = offset + size;
        Some(ConnCopy {
            connection: self.header.connection,
            message: self.header.message,
            total: self.total,
            offset,
            size,
            chunk_flags: flags,
            method_or_status: if first {
                self.header.method_or_status
            } else {
                0
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let left = (self.total - self.next_offset)
            .div_ceil(self.buffer_size)
            .max(1);
        let left = usize::try_from(left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PacketCodec;

    fn header(kind: MessageKind, method_or_status: u64) -> MessageHeader {
        MessageHeader {
            connection: 3,
            message: 9,
            kind,
            error: false,
            method_or_status,
        }
    }

    #[test]
    fn the_golden_150_byte_message_has_three_chunks() {
        let chunks: Vec<ConnCopy> = header(MessageKind::Plain, 0).chunks(150, 64).collect();
        let got: Vec<(u64, u64, u64)> = chunks
            .iter()
            .map(|c| (c.offset, c.size, c.chunk_flags.bits()))
            .collect();
        assert_eq!(got, [(0, 64, 1), (64, 64, 0), (128, 22, 2)]);
        for chunk in &chunks {
            assert_eq!(ConnCopy::decode(&chunk.encode()), Ok(*chunk));
        }
    }

    #[test]
    fn empty_and_exact_messages() {
        let empty: Vec<ConnCopy> = header(MessageKind::Request, 5).chunks(0, 64).collect();
        assert_eq!(empty.len(), 1);
        assert_eq!(
            empty[0].chunk_flags,
            FrameFlags::BEGIN | FrameFlags::END | FrameFlags::REQUEST
        );
        assert_eq!(
            (empty[0].total, empty[0].size, empty[0].method_or_status),
            (0, 0, 5)
        );

        let exact: Vec<ConnCopy> = header(MessageKind::Plain, 0).chunks(128, 64).collect();
        assert_eq!(exact.len(), 2);
        assert!(exact[1].chunk_flags.contains(FrameFlags::END));
    }

    #[test]
    fn operand_6_only_on_the_first_chunk_and_kind_on_every_chunk() {
        let mut h = header(MessageKind::Response, 7);
        h.error = true;
        let chunks: Vec<ConnCopy> = h.chunks(200, 64).collect();
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].method_or_status, 7);
        for chunk in &chunks {
            assert!(chunk
                .chunk_flags
                .contains(FrameFlags::RESPONSE | FrameFlags::ERROR));
            assert_eq!(ConnCopy::decode(&chunk.encode()), Ok(*chunk));
        }
        assert!(chunks[1..].iter().all(|c| c.method_or_status == 0));
        let total: u64 = chunks.iter().map(|c| c.size).sum();
        assert_eq!(total, 200);
    }

    #[test]
    fn size_hint_is_exact() {
        for total in [0u64, 1, 63, 64, 65, 1000] {
            let chunks = header(MessageKind::Plain, 0).chunks(total, 64);
            let (low, high) = chunks.size_hint();
            assert_eq!(Some(low), high);
            assert_eq!(chunks.count(), low);
        }
    }

    #[test]
    fn abort_chunk_decodes() {
        let abort = header(MessageKind::Request, 1).abort();
        assert_eq!(ConnCopy::decode(&abort.encode()), Ok(abort));
        assert!(abort.chunk_flags.contains(FrameFlags::ABORT));
    }
}
