// Checks the Go file hqq-gen generates for hqq-gen/tests/data/kv.yaml (the
// golden file kv.go): flag-set rules, rule sums, and narrow operands
// (zero-extended, i64 two's complement, range-checked on decode). Run by
// hqq-gen/tests/generated_go.rs.
package keyvalue

import (
	"errors"
	"testing"
)

func kind(err error) ErrorKind {
	var ce *CodecError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return 0
}

func TestPutFlagRules(t *testing.T) {
	put := Put{Key: 42, Len: 10, PutFlags: PutFlagsSync}
	b := put.Encode()
	if _, err := DecodePut(&b); kind(err) != RuleBroken {
		t.Errorf("Sync without Replace: %v", err)
	}
	put.PutFlags |= PutFlagsReplace
	b = put.Encode()
	if got, err := DecodePut(&b); err != nil || got != put {
		t.Errorf("Put round trip: %v, %v", got, err)
	}
	if err := put.Validate(&Limits{BufferSize: 8}); kind(err) != RuleBroken {
		t.Errorf("value above the buffer size: %v", err)
	}
}

func TestNarrowOperands(t *testing.T) {
	s := Stats{Shard: 255, Port: 8080, Keys: 1<<32 - 1, Delta: -2, ReadOnly: true}
	b := s.Encode()
	if b.Word(4) != ^uint64(1) || b.Word(5) != 1 {
		t.Errorf("Stats words: %#x %#x", b.Word(4), b.Word(5))
	}
	if got, err := DecodeStats(&b); err != nil || got != s {
		t.Errorf("Stats round trip: %v, %v", got, err)
	}
	for _, tc := range []struct {
		word  int
		value uint64
	}{{1, 256}, {2, 1 << 16}, {3, 1 << 32}, {5, 2}} {
		bad := b
		bad.SetWord(tc.word, tc.value)
		if _, err := DecodeStats(&bad); kind(err) != OutOfRange {
			t.Errorf("word %d = %#x: %v", tc.word, tc.value, err)
		}
	}
}
