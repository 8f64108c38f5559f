// Checks the Go file hqq-gen generates for hqq-gen/tests/data/kv.yaml (the
// golden file kv.go): flag-set rules, rule sums, narrow operands
// (zero-extended, i64 two's complement, range-checked on decode) and rules
// on them. Run by
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

func TestNarrowRules(t *testing.T) {
	w := Window{Shard: 3, First: 0xFFF0, Count: 0x10, Total: 100}
	b := w.Encode()
	got, err := DecodeWindow(&b)
	if err != nil || got != w {
		t.Fatalf("Window round trip: %v, %v", got, err)
	}
	if err := got.Validate(&Limits{SlotCount: 16}); err != nil {
		t.Errorf("Window of one ring: %v", err)
	}
	if err := got.Validate(&Limits{SlotCount: 15}); kind(err) != RuleBroken {
		t.Errorf("Window above the ring: %v", err)
	}
	for _, tc := range []struct {
		word  int
		value uint64
		rule  string
	}{{3, 0x11, "first + count <= 65536"}, {1, 64, "shard < 64"}, {4, 0xF, "count <= total"}} {
		bad := b
		bad.SetWord(tc.word, tc.value)
		_, err := DecodeWindow(&bad)
		var ce *CodecError
		if !errors.As(err, &ce) || ce.Kind != RuleBroken || ce.Rule != tc.rule {
			t.Errorf("word %d = %#x: %v", tc.word, tc.value, err)
		}
	}
}
