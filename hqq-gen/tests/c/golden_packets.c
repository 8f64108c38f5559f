/* Checks the C header hqq-gen generates for spec/hqq.yaml against the
 * segment images the Go implementation wrote (tests/data/golden): every
 * packet in either ring of every image decodes, validates and encodes back
 * to the same 64 bytes; the packets the Go peer wrote equal what the header
 * encodes from their known values; and corrupted packets get the error the
 * generated Rust gives them. Run by hqq-gen/tests/generated_c.rs as
 * `golden_packets GOLDEN_DIR`; prints what failed and exits 1 on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hqq.h"
#include "kv.h"

static int failures = 0;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, "\n");                        \
            failures++;                                   \
        }                                                 \
    } while (0)

typedef struct image {
    uint8_t *bytes;
    size_t len;
    uint64_t count;
    uint64_t size;
} image;

static uint64_t align_page(uint64_t x) { return (x + 4095u) / 4096u * 4096u; }

static image read_image(const char *dir, const char *name) {
    char path[4096];
    image img = {NULL, 0, 0, 0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    img.bytes = malloc(1u << 20);
    img.len = fread(img.bytes, 1, 1u << 20, f);
    fclose(f);
    if (img.len < 4096u) {
        fprintf(stderr, "%s: too short\n", path);
        exit(1);
    }
    /* The superblock's count and size words (wire-compat.md). */
    img.count = hqq_load_word(img.bytes, 5u);
    img.size = hqq_load_word(img.bytes, 6u);
    return img;
}

/* The 64 packet bytes of `slot` in ring `ring` (0 or 1) of `img`. */
static const uint8_t *slot_packet(const image *img, int ring, uint64_t slot) {
    uint64_t ring_bytes = 256u + 256u + 72u * img->count;
    uint64_t base = 4096u;
    if (ring == 1) {
        uint64_t b0 = align_page(base + ring_bytes);
        base = align_page(b0 + img->count * img->size);
    }
    uint64_t at = base + 256u + 72u * slot;
    if (at + 64u > img->len) {
        fprintf(stderr, "slot outside the image\n");
        exit(1);
    }
    return img->bytes + at;
}

static bool all_zero(const uint8_t *p) {
    for (int i = 0; i < 64; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Decodes, validates and re-encodes every non-empty slot; returns how many. */
static int round_trip_all(const image *img, const char *name) {
    hqq_limits limits = {img->size, img->count, UINT64_C(64) << 20};
    int packets = 0;
    for (int ring = 0; ring < 2; ring++) {
        for (uint64_t slot = 0; slot < img->count; slot++) {
            const uint8_t *bytes = slot_packet(img, ring, slot);
            if (all_zero(bytes)) {
                continue;
            }
            hqq_message m;
            uint8_t again[HQQ_PACKET_SIZE];
            hqq_result r = hqq_message_decode(bytes, &m);
            CHECK(r.status == HQQ_OK, "%s ring %d slot %d: decode status %d", name, ring, (int)slot, (int)r.status);
            r = hqq_message_validate(&m, &limits);
            CHECK(r.status == HQQ_OK, "%s ring %d slot %d: validate status %d", name, ring, (int)slot, (int)r.status);
            r = hqq_message_encode(&m, again);
            CHECK(r.status == HQQ_OK && memcmp(again, bytes, 64) == 0, "%s ring %d slot %d: re-encoded bytes differ", name, ring, (int)slot);
            packets++;
        }
    }
    return packets;
}

static void expect_bytes(const uint8_t *ours, const image *img, int ring, uint64_t slot, const char *what) {
    CHECK(memcmp(ours, slot_packet(img, ring, slot), 64) == 0, "%s: bytes differ from the Go image", what);
}

static void known_packets(const char *dir) {
    uint8_t out[HQQ_PACKET_SIZE];
    image neg = read_image(dir, "adv-8x64-1-negotiated.bin");
    hqq_proto_negotiate n = {{1, 0}, HQQ_FEATURES_LARGE_COPY | HQQ_FEATURES_REQUEST_RESPONSE,
                             HQQ_CAPABILITIES_LARGE_BUFFERS | HQQ_CAPABILITIES_HIGH_THROUGHPUT | HQQ_CAPABILITIES_LOW_LATENCY};
    hqq_proto_negotiate_encode(&n, out);
    expect_bytes(out, &neg, 0, 0, "ProtoNegotiate 1.0, features 3, capabilities 7");
    hqq_proto_ack a = {{1, 0}, 3, 7};
    hqq_proto_ack_encode(&a, out);
    expect_bytes(out, &neg, 1, 0, "ProtoAck 1.0");
    free(neg.bytes);

    image large = read_image(dir, "adv-8x64-2-sent-large-150.bin");
    const uint64_t offsets[3] = {0, 64, 128}, sizes[3] = {64, 64, 22};
    const uint64_t flags[3] = {HQQ_FRAME_FLAGS_BEGIN, 0, HQQ_FRAME_FLAGS_END};
    for (int i = 0; i < 3; i++) {
        hqq_conn_copy c = {0, 1, 150, offsets[i], sizes[i], flags[i], 0};
        hqq_conn_copy_encode(&c, out);
        expect_bytes(out, &large, 0, (uint64_t)i + 1u, "ConnCopy chunk of the 150-byte message");
    }
    free(large.bytes);

    image world = read_image(dir, "std-4x64-4-secondary-wrote-world.bin");
    hqq_standard_link_copy hello = {1, 0, 5}, w = {1, 0, 6};
    hqq_standard_link_copy_encode(&hello, out);
    expect_bytes(out, &world, 0, 0, "StandardLinkCopy of \"hello\"");
    hqq_standard_link_copy_encode(&w, out);
    expect_bytes(out, &world, 1, 0, "StandardLinkCopy of \"world!\"");
    free(world.bytes);
}

/* A ConnCopy's bytes with `word` set to `value`, decoded. */
static hqq_result decode_conn_copy_with(unsigned word, uint64_t value) {
    hqq_conn_copy c = {0, 1, 150, 0, 64, HQQ_FRAME_FLAGS_BEGIN, 0}, out;
    uint8_t bytes[HQQ_PACKET_SIZE];
    hqq_conn_copy_encode(&c, bytes);
    hqq_store_word(bytes, word, value);
    return hqq_conn_copy_decode(bytes, &out);
}

static void bad_packets(void) {
    hqq_result r = decode_conn_copy_with(0, 0x0104);
    CHECK(r.status == HQQ_RESERVED_BITS && r.value == 1, "reserved byte: status %d", (int)r.status);
    r = decode_conn_copy_with(6, HQQ_FRAME_FLAGS_BEGIN | HQQ_FRAME_FLAGS_REQUEST | HQQ_FRAME_FLAGS_RESPONSE);
    CHECK(r.status == HQQ_RULE_BROKEN && r.operand == 5 && strcmp(r.rule, "Request and Response are exclusive") == 0,
          "Request|Response: status %d", (int)r.status);
    r = decode_conn_copy_with(6, UINT64_C(1) << 40);
    CHECK(r.status == HQQ_UNKNOWN_FLAGS && r.value == (UINT64_C(1) << 40), "unknown frame flag: status %d", (int)r.status);
    /* A middle chunk whose offset + size wraps around in 64 bits to 1. */
    hqq_conn_copy wraps = {0, 1, 150, 2, UINT64_MAX, 0, 0}, decoded;
    uint8_t wrapped[HQQ_PACKET_SIZE];
    hqq_conn_copy_encode(&wraps, wrapped);
    r = hqq_conn_copy_decode(wrapped, &decoded);
    CHECK(r.status == HQQ_RULE_BROKEN && strcmp(r.rule, "offset + size <= total") == 0, "wrapping sum: status %d", (int)r.status);
    r = decode_conn_copy_with(7, 9);
    CHECK(r.status == HQQ_OK, "method id on a Begin chunk: status %d", (int)r.status);
    r = decode_conn_copy_with(6, 0);
    CHECK(r.status == HQQ_OK, "middle chunk: status %d", (int)r.status);

    hqq_conn_copy big = {0, 1, 150, 0, 65, HQQ_FRAME_FLAGS_BEGIN, 0};
    hqq_limits limits = {64, 8, 1024};
    r = hqq_conn_copy_validate(&big, &limits);
    CHECK(r.status == HQQ_RULE_BROKEN && r.operand == 4 && r.value == 65, "chunk above buffer size: status %d", (int)r.status);

    uint8_t bytes[HQQ_PACKET_SIZE];
    hqq_message m;
    hqq_error e = {7, HQQ_ERROR_CODE_INVALID_OP};
    hqq_error_encode(&e, bytes);
    hqq_store_word(bytes, 2, 0x99);
    r = hqq_message_decode(bytes, &m);
    CHECK(r.status == HQQ_UNKNOWN_VALUE && r.operand == 1 && r.value == 0x99, "unknown error code: status %d", (int)r.status);
    hqq_store_word(bytes, 2, HQQ_ERROR_CODE_INVALID_OP);
    hqq_store_word(bytes, 3, 1);
    r = hqq_message_decode(bytes, &m);
    CHECK(r.status == HQQ_UNUSED_OPERAND && r.operand == 2, "unused operand: status %d", (int)r.status);

    hqq_proto_negotiate n = {{1, 0}, 3 | (UINT64_C(1) << 60), 7};
    hqq_proto_negotiate_encode(&n, bytes);
    r = hqq_message_decode(bytes, &m);
    CHECK(r.status == HQQ_OK && m.as.proto_negotiate.features == 3, "ProtoNegotiate drops unknown feature bits");
    hqq_store_word(bytes, 1, 0x10000);
    r = hqq_message_decode(bytes, &m);
    CHECK(r.status == HQQ_OUT_OF_RANGE && r.operand == 0, "version above 0xFFFF: status %d", (int)r.status);
    hqq_proto_ack a = {{1, 0}, 3 | (UINT64_C(1) << 60), 7};
    hqq_proto_ack_encode(&a, bytes);
    r = hqq_message_decode(bytes, &m);
    CHECK(r.status == HQQ_UNKNOWN_FLAGS, "ProtoAck rejects unknown feature bits: status %d", (int)r.status);

    bytes[0] = 0x80;
    r = hqq_message_decode(bytes, &m);
    CHECK(r.status == HQQ_UNKNOWN_OPCODE && r.value == 0x80, "application opcode in the core header: status %d", (int)r.status);
    CHECK(hqq_opcode_name(0x04) != NULL && strcmp(hqq_opcode_name(0x04), "ConnCopy") == 0, "opcode name");
}

/* The application header: its own opcodes and flag rules, next to the core's. */
static void application_packets(void) {
    uint8_t bytes[KEY_VALUE_PACKET_SIZE];
    key_value_put put = {42, 10, KEY_VALUE_PUT_FLAGS_SYNC};
    key_value_put out;
    key_value_put_encode(&put, bytes);
    key_value_result r = key_value_put_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_RULE_BROKEN && strcmp(r.rule, "Sync requires Replace") == 0, "Sync without Replace: status %d", (int)r.status);
    put.put_flags |= KEY_VALUE_PUT_FLAGS_REPLACE;
    key_value_put_encode(&put, bytes);
    r = key_value_put_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_OK && out.key == 42 && out.len == 10, "Put round trip: status %d", (int)r.status);
    CHECK(bytes[0] == 0x80 && bytes[8] == 42, "Put bytes");
    key_value_scan scan = {0xFFFFFFF0u, 0x20u};
    key_value_scan scanned;
    key_value_scan_encode(&scan, bytes);
    r = key_value_scan_decode(bytes, &scanned);
    CHECK(r.status == KEY_VALUE_RULE_BROKEN && strcmp(r.rule, "first + count <= 4294967295") == 0,
          "Scan past the key space: status %d, rule %s", (int)r.status, r.rule ? r.rule : "(none)");
}

/* Narrow operands: zero-extended (i64 two's complement), range-checked on decode. */
static void narrow_operands(void) {
    uint8_t bytes[KEY_VALUE_PACKET_SIZE];
    key_value_stats stats = {255, 8080, UINT32_MAX, -2, true}, out;
    key_value_stats_encode(&stats, bytes);
    CHECK(key_value_load_word(bytes, 1) == 255 && key_value_load_word(bytes, 3) == UINT32_MAX &&
              key_value_load_word(bytes, 4) == UINT64_MAX - 1u && key_value_load_word(bytes, 5) == 1,
          "Stats words");
    key_value_result r = key_value_stats_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_OK && out.shard == 255 && out.port == 8080 && out.keys == UINT32_MAX &&
              out.delta == -2 && out.read_only,
          "Stats round trip: status %d", (int)r.status);
    key_value_store_word(bytes, 1, 256);
    r = key_value_stats_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_OUT_OF_RANGE && r.operand == 0 && r.value == 256, "u8 operand of 256: status %d", (int)r.status);
    key_value_store_word(bytes, 1, 0);
    key_value_store_word(bytes, 5, 2);
    r = key_value_stats_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_OUT_OF_RANGE && r.operand == 4, "bool operand of 2: status %d", (int)r.status);
}

/* Rules on narrow operands: compared and summed as 64-bit words. */
static void narrow_rules(void) {
    uint8_t bytes[KEY_VALUE_PACKET_SIZE];
    key_value_window w = {3, 0xFFF0u, 0x10u, 100}, out;
    key_value_window_encode(&w, bytes);
    key_value_result r = key_value_window_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_OK && out.shard == 3 && out.first == 0xFFF0u && out.count == 0x10u && out.total == 100,
          "Window round trip: status %d", (int)r.status);
    key_value_limits limits = {64, 16, 1024};
    r = key_value_window_validate(&out, &limits);
    CHECK(r.status == KEY_VALUE_OK, "Window of one ring: status %d", (int)r.status);
    limits.slot_count = 15;
    r = key_value_window_validate(&out, &limits);
    CHECK(r.status == KEY_VALUE_RULE_BROKEN && r.operand == 2 && r.value == 0x10 &&
              strcmp(r.rule, "count <= limits.slot_count") == 0,
          "Window above the ring: status %d", (int)r.status);
    key_value_store_word(bytes, 3, 0x11);
    r = key_value_window_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_RULE_BROKEN && strcmp(r.rule, "first + count <= 65536") == 0,
          "Window past the slot numbers: status %d, rule %s", (int)r.status, r.rule ? r.rule : "(none)");
    key_value_store_word(bytes, 3, 0x10);
    key_value_store_word(bytes, 1, 64);
    r = key_value_window_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_RULE_BROKEN && r.operand == 0 && r.value == 64, "shard 64: status %d", (int)r.status);
    key_value_store_word(bytes, 1, 3);
    key_value_store_word(bytes, 4, 0xF);
    r = key_value_window_decode(bytes, &out);
    CHECK(r.status == KEY_VALUE_RULE_BROKEN && r.operand == 3 && strcmp(r.rule, "count <= total") == 0,
          "count above total: status %d", (int)r.status);
}

int main(int argc, char **argv) {
    static const char *const names[] = {
        "std-4x64-1-initialized.bin",         "std-4x64-2-primary-wrote-hello.bin",
        "std-4x64-3-secondary-read-hello.bin", "std-4x64-4-secondary-wrote-world.bin",
        "adv-8x64-1-negotiated.bin",           "adv-8x64-2-sent-large-150.bin",
        "adv-8x64-3-received-large-150.bin",
    };
    if (argc != 2) {
        fprintf(stderr, "usage: golden_packets GOLDEN_DIR\n");
        return 2;
    }
    int packets = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        image img = read_image(argv[1], names[i]);
        packets += round_trip_all(&img, names[i]);
        free(img.bytes);
    }
    /* The images hold 16 packets in all (ring 0 and ring 1 together). */
    CHECK(packets == 16, "found %d packets in the images, expected 16", packets);
    known_packets(argv[1]);
    bad_packets();
    application_packets();
    narrow_operands();
    narrow_rules();
    if (failures != 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ok: %d golden packets\n", packets);
    return 0;
}
