//! Hash maps keyed by protocol ids (connection and message ids, message
//! keys), with a fast unkeyed hash instead of SipHash.
//!
//! The receive path looks ids up several times per packet, where SipHash
//! costs as much as the copy of a small message. An unkeyed hash lets a
//! peer choose colliding ids, so every map of this kind whose keys the
//! peer picks is bounded by a limit this side controls (messages in
//! progress, the accept backlog and the connections this side accepted):
//! collisions make lookups slower, never unbounded.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hash of the words it is fed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

/// The golden-ratio multiplier: spreads consecutive ids over the table.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MIX);
    }

    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_isize(&mut self, word: isize) {
        self.write_u64(word as u64);
    }
}

/// A map keyed by protocol ids.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A set of protocol ids.
pub(crate) type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_and_maps_work() {
        let hash = |id: u64| {
            let mut h = IdHasher::default();
            h.write_u64(id);
            h.finish()
        };
        assert_ne!(hash(1) >> 57, hash(2) >> 57, "top bits differ");
        let mut map: IdMap<u64, u64> = IdMap::default();
        for id in 0..1000 {
            map.insert(id, id * 2);
        }
        assert!((0..1000).all(|id| map.get(&id) == Some(&(id * 2))));
    }
}
