// Checks the Go file hqq-gen generates for spec/hqq.yaml against the segment
// images the Go implementation wrote (tests/data/golden): every packet in
// either ring decodes, validates and encodes back to the same bytes; known
// packets encode to the Go peer's bytes; corrupted packets get the error the
// generated Rust and C give them. Run by hqq-gen/tests/generated_go.rs with
// HQQ_GOLDEN set to the golden directory.
package hqq

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var images = []string{
	"std-4x64-1-initialized.bin",
	"std-4x64-2-primary-wrote-hello.bin",
	"std-4x64-3-secondary-read-hello.bin",
	"std-4x64-4-secondary-wrote-world.bin",
	"adv-8x64-1-negotiated.bin",
	"adv-8x64-2-sent-large-150.bin",
	"adv-8x64-3-received-large-150.bin",
}

type image struct {
	bytes       []byte
	count, size uint64
}

func readImage(t *testing.T, name string) image {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(os.Getenv("HQQ_GOLDEN"), name))
	if err != nil {
		t.Fatal(err)
	}
	return image{b, binary.LittleEndian.Uint64(b[40:]), binary.LittleEndian.Uint64(b[48:])}
}

func alignPage(x uint64) uint64 { return (x + 4095) / 4096 * 4096 }

// slot returns the packet of ring slot `slot` of ring `ring` (wire-compat.md).
func (img image) slot(ring int, slot uint64) Packet {
	ringBytes := 256 + 256 + 72*img.count
	base := uint64(4096)
	if ring == 1 {
		base = alignPage(alignPage(base+ringBytes) + img.count*img.size)
	}
	var p Packet
	copy(p[:], img.bytes[base+256+72*slot:])
	return p
}

func TestEveryGoldenPacketRoundTrips(t *testing.T) {
	packets := 0
	for _, name := range images {
		img := readImage(t, name)
		limits := Limits{BufferSize: img.size, SlotCount: img.count, MaxMessageSize: 64 << 20}
		for ring := 0; ring < 2; ring++ {
			for s := uint64(0); s < img.count; s++ {
				p := img.slot(ring, s)
				if p == (Packet{}) {
					continue
				}
				packets++
				m, err := Decode(&p)
				if err != nil {
					t.Fatalf("%s ring %d slot %d: %v", name, ring, s, err)
				}
				if err := m.Validate(&limits); err != nil {
					t.Errorf("%s ring %d slot %d: %v", name, ring, s, err)
				}
				if m.Encode() != p {
					t.Errorf("%s ring %d slot %d: re-encoded bytes differ", name, ring, s)
				}
			}
		}
	}
	if packets != 16 {
		t.Errorf("found %d packets in the images, expected 16", packets)
	}
}

func TestKnownPacketsMatchTheGoPeer(t *testing.T) {
	neg := readImage(t, "adv-8x64-1-negotiated.bin")
	n := ProtoNegotiate{Version{1, 0}, FeaturesLargeCopy | FeaturesRequestResponse,
		CapabilitiesLargeBuffers | CapabilitiesHighThroughput | CapabilitiesLowLatency}
	if n.Encode() != neg.slot(0, 0) {
		t.Error("ProtoNegotiate bytes differ")
	}
	large := readImage(t, "adv-8x64-2-sent-large-150.bin")
	chunks := []ConnCopy{
		{Message: 1, Total: 150, Offset: 0, Size: 64, ChunkFlags: FrameFlagsBegin},
		{Message: 1, Total: 150, Offset: 64, Size: 64},
		{Message: 1, Total: 150, Offset: 128, Size: 22, ChunkFlags: FrameFlagsEnd},
	}
	for i, c := range chunks {
		if c.Encode() != large.slot(0, uint64(i)+1) {
			t.Errorf("ConnCopy chunk %d bytes differ", i)
		}
	}
	world := readImage(t, "std-4x64-4-secondary-wrote-world.bin")
	w := StandardLinkCopy{Copy: 1, BufferIndex: 0, Size: 6}
	if w.Encode() != world.slot(1, 0) {
		t.Error("StandardLinkCopy of \"world!\" bytes differ")
	}
}

func kind(err error) ErrorKind {
	var ce *CodecError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return 0
}

func TestBadPacketsAreRejected(t *testing.T) {
	c := ConnCopy{Message: 1, Total: 150, Size: 64, ChunkFlags: FrameFlagsBegin}
	cases := []struct {
		word  int
		value uint64
		want  ErrorKind
	}{
		{0, 0x0104, ReservedBits},
		{6, uint64(FrameFlagsBegin | FrameFlagsRequest | FrameFlagsResponse), RuleBroken},
		{6, 1 << 40, UnknownFlags},
		{5, ^uint64(0), RuleBroken},
		{7, 9, 0},
	}
	for _, tc := range cases {
		b := c.Encode()
		b.SetWord(tc.word, tc.value)
		_, err := DecodeConnCopy(&b)
		if kind(err) != tc.want {
			t.Errorf("word %d = %#x: got %v, want kind %d", tc.word, tc.value, err, tc.want)
		}
	}
	// A middle chunk whose offset + size wraps around in 64 bits to 1.
	wraps := ConnCopy{Message: 1, Total: 150, Offset: 2, Size: ^uint64(0)}
	b := wraps.Encode()
	if _, err := DecodeConnCopy(&b); kind(err) != RuleBroken {
		t.Errorf("wrapping offset + size: %v", err)
	}
	big := ConnCopy{Total: 150, Size: 65, ChunkFlags: FrameFlagsBegin}
	if err := big.Validate(&Limits{BufferSize: 64, SlotCount: 8, MaxMessageSize: 1024}); kind(err) != RuleBroken {
		t.Errorf("chunk above the buffer size: %v", err)
	}
	n := ProtoNegotiate{Version{1, 0}, 3 | 1<<60, 7}
	b = n.Encode()
	if m, err := Decode(&b); err != nil || m.(*ProtoNegotiate).Features != 3 {
		t.Errorf("ProtoNegotiate drops unknown bits: %v", err)
	}
	b.SetWord(1, 0x10000)
	if _, err := Decode(&b); kind(err) != OutOfRange {
		t.Errorf("version above 0xFFFF: %v", err)
	}
	a := ProtoAck{Version{1, 0}, 3 | 1<<60, 7}
	b = a.Encode()
	if _, err := Decode(&b); kind(err) != UnknownFlags {
		t.Errorf("ProtoAck keeps unknown bits: %v", err)
	}
	e := Error{Context: 7, Code: ErrorCodeInvalidOp}
	b = e.Encode()
	b.SetWord(2, 0x99)
	if _, err := Decode(&b); kind(err) != UnknownValue {
		t.Errorf("unknown error code: %v", err)
	}
	b[0] = 0x80
	if _, err := Decode(&b); kind(err) != UnknownOpcode {
		t.Errorf("application opcode: %v", err)
	}
}
