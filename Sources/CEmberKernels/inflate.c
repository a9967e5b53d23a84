// DEFLATE decoder written from RFC 1951.
//
// Huffman codes are decoded one bit at a time from canonical (count per length, symbols in
// code order) tables: slower than zlib's multi-level lookup tables, but every table is a few
// hundred bytes, there is no table-construction edge case that can index out of bounds, and
// .npz / checkpoint members are small or stored. Every read checks the remaining input and
// every write the remaining output, so hostile streams end with a status, never a crash.
#include "include/ember_compress.h"
#include "deflate_tables.h"
#include <string.h>

#define MAX_BITS 15
#define MAX_LITERAL_CODES 288
#define MAX_DISTANCE_CODES 30

typedef struct {
    const uint8_t *input;
    size_t input_length;
    size_t input_position;
    uint32_t bit_buffer;
    int bit_count;
    uint8_t *output;
    size_t output_capacity;
    size_t output_length;
} inflate_state;

typedef struct {
    uint16_t count[MAX_BITS + 1];        // number of codes of each length
    uint16_t symbol[MAX_LITERAL_CODES];  // symbols ordered by code
} huffman_table;

// Reads `n` (<= 16) bits, least significant first. Returns -1 when the input is exhausted.
static int read_bits(inflate_state *s, int n) {
    while (s->bit_count < n) {
        if (s->input_position >= s->input_length) return -1;
        s->bit_buffer |= (uint32_t)s->input[s->input_position++] << s->bit_count;
        s->bit_count += 8;
    }
    int value = (int)(s->bit_buffer & ((1u << n) - 1));
    s->bit_buffer >>= n;
    s->bit_count -= n;
    return value;
}

// Builds a canonical table from code lengths. Returns 0 for a complete or incomplete code,
// -1 when over-subscribed (more codes of some length than the code space holds).
static int build_table(huffman_table *table, const uint8_t *lengths, int n) {
    memset(table->count, 0, sizeof table->count);
    for (int symbol = 0; symbol < n; symbol++) table->count[lengths[symbol]]++;
    int left = 1;
    for (int length = 1; length <= MAX_BITS; length++) {
        left <<= 1;
        left -= table->count[length];
        if (left < 0) return -1;
    }
    uint16_t offsets[MAX_BITS + 2];
    offsets[1] = 0;
    for (int length = 1; length < MAX_BITS; length++) offsets[length + 1] = offsets[length] + table->count[length];
    for (int symbol = 0; symbol < n; symbol++)
        if (lengths[symbol] != 0) table->symbol[offsets[lengths[symbol]]++] = (uint16_t)symbol;
    return 0;
}

// Decodes one symbol. Codes are stored most significant bit first, so they are built up bit by
// bit and compared with the first code of each length. Returns -1 (truncated) or -2 (no symbol).
static int decode_symbol(inflate_state *s, const huffman_table *table) {
    int code = 0, first = 0, index = 0;
    for (int length = 1; length <= MAX_BITS; length++) {
        int bit = read_bits(s, 1);
        if (bit < 0) return -1;
        code |= bit;
        int count = table->count[length];
        if (code - first < count) return table->symbol[index + (code - first)];
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return -2;
}

static ember_inflate_status inflate_codes(inflate_state *s, const huffman_table *literals,
                                          const huffman_table *distances) {
    for (;;) {
        int symbol = decode_symbol(s, literals);
        if (symbol == -1) return EMBER_INFLATE_TRUNCATED;
        if (symbol < 0) return EMBER_INFLATE_BAD_SYMBOL;
        if (symbol < 256) {
            if (s->output_length >= s->output_capacity) return EMBER_INFLATE_OUTPUT_FULL;
            s->output[s->output_length++] = (uint8_t)symbol;
        } else if (symbol == 256) {
            return EMBER_INFLATE_OK;
        } else {
            symbol -= 257;
            if (symbol >= 29) return EMBER_INFLATE_BAD_SYMBOL;
            int extra = read_bits(s, length_extra[symbol]);
            if (extra < 0) return EMBER_INFLATE_TRUNCATED;
            size_t length = (size_t)length_base[symbol] + (size_t)extra;
            int distance_symbol = decode_symbol(s, distances);
            if (distance_symbol == -1) return EMBER_INFLATE_TRUNCATED;
            if (distance_symbol < 0 || distance_symbol >= 30) return EMBER_INFLATE_BAD_SYMBOL;
            int distance_bits = read_bits(s, distance_extra[distance_symbol]);
            if (distance_bits < 0) return EMBER_INFLATE_TRUNCATED;
            size_t distance = (size_t)distance_base[distance_symbol] + (size_t)distance_bits;
            if (distance > s->output_length) return EMBER_INFLATE_BAD_DISTANCE;
            if (length > s->output_capacity - s->output_length) return EMBER_INFLATE_OUTPUT_FULL;
            // Byte by byte: source and destination overlap when distance < length (runs).
            uint8_t *destination = s->output + s->output_length;
            const uint8_t *source = destination - distance;
            for (size_t i = 0; i < length; i++) destination[i] = source[i];
            s->output_length += length;
        }
    }
}

static ember_inflate_status inflate_stored(inflate_state *s) {
    s->bit_buffer = 0; // stored blocks start at a byte boundary
    s->bit_count = 0;
    if (s->input_length - s->input_position < 4) return EMBER_INFLATE_TRUNCATED;
    const uint8_t *p = s->input + s->input_position;
    unsigned length = p[0] | (p[1] << 8);
    unsigned complement = p[2] | (p[3] << 8);
    if (length != (~complement & 0xFFFFu)) return EMBER_INFLATE_BAD_STORED_LENGTH;
    s->input_position += 4;
    if (s->input_length - s->input_position < length) return EMBER_INFLATE_TRUNCATED;
    if (length > s->output_capacity - s->output_length) return EMBER_INFLATE_OUTPUT_FULL;
    memcpy(s->output + s->output_length, s->input + s->input_position, length);
    s->output_length += length;
    s->input_position += length;
    return EMBER_INFLATE_OK;
}

static ember_inflate_status inflate_fixed(inflate_state *s) {
    // The fixed codes of RFC 1951 section 3.2.6; rebuilt per block (a few hundred operations)
    // rather than cached in globals that would need synchronisation.
    huffman_table literals, distances;
    uint8_t lengths[MAX_LITERAL_CODES];
    int symbol = 0;
    for (; symbol < 144; symbol++) lengths[symbol] = 8;
    for (; symbol < 256; symbol++) lengths[symbol] = 9;
    for (; symbol < 280; symbol++) lengths[symbol] = 7;
    for (; symbol < 288; symbol++) lengths[symbol] = 8;
    build_table(&literals, lengths, 288);
    for (symbol = 0; symbol < 30; symbol++) lengths[symbol] = 5;
    build_table(&distances, lengths, 30);
    return inflate_codes(s, &literals, &distances);
}

static ember_inflate_status inflate_dynamic(inflate_state *s) {
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    int literal_count = read_bits(s, 5);
    int distance_count = read_bits(s, 5);
    int code_length_count = read_bits(s, 4);
    if (literal_count < 0 || distance_count < 0 || code_length_count < 0) return EMBER_INFLATE_TRUNCATED;
    literal_count += 257;
    distance_count += 1;
    code_length_count += 4;
    if (literal_count > 286 || distance_count > 30) return EMBER_INFLATE_BAD_CODE_LENGTHS;

    uint8_t lengths[MAX_LITERAL_CODES + MAX_DISTANCE_CODES];
    memset(lengths, 0, sizeof lengths);
    for (int i = 0; i < code_length_count; i++) {
        int value = read_bits(s, 3);
        if (value < 0) return EMBER_INFLATE_TRUNCATED;
        lengths[order[i]] = (uint8_t)value;
    }
    huffman_table code_lengths;
    if (build_table(&code_lengths, lengths, 19) != 0) return EMBER_INFLATE_BAD_CODE_LENGTHS;

    int total = literal_count + distance_count;
    int index = 0;
    while (index < total) {
        int symbol = decode_symbol(s, &code_lengths);
        if (symbol == -1) return EMBER_INFLATE_TRUNCATED;
        if (symbol < 0) return EMBER_INFLATE_BAD_CODE_LENGTHS;
        if (symbol < 16) {
            lengths[index++] = (uint8_t)symbol;
            continue;
        }
        int repeat;
        uint8_t value = 0;
        if (symbol == 16) {
            if (index == 0) return EMBER_INFLATE_BAD_CODE_LENGTHS; // nothing to repeat
            value = lengths[index - 1];
            repeat = read_bits(s, 2);
            if (repeat < 0) return EMBER_INFLATE_TRUNCATED;
            repeat += 3;
        } else if (symbol == 17) {
            repeat = read_bits(s, 3);
            if (repeat < 0) return EMBER_INFLATE_TRUNCATED;
            repeat += 3;
        } else {
            repeat = read_bits(s, 7);
            if (repeat < 0) return EMBER_INFLATE_TRUNCATED;
            repeat += 11;
        }
        if (index + repeat > total) return EMBER_INFLATE_BAD_CODE_LENGTHS;
        while (repeat-- > 0) lengths[index++] = value;
    }
    if (lengths[256] == 0) return EMBER_INFLATE_BAD_CODE_LENGTHS; // no end-of-block code

    huffman_table literals, distances;
    if (build_table(&literals, lengths, literal_count) != 0) return EMBER_INFLATE_BAD_CODE_LENGTHS;
    if (build_table(&distances, lengths + literal_count, distance_count) != 0) return EMBER_INFLATE_BAD_CODE_LENGTHS;
    return inflate_codes(s, &literals, &distances);
}

ember_inflate_status ember_inflate(const uint8_t *input, size_t input_length,
                                   uint8_t *output, size_t output_capacity,
                                   size_t *output_length, size_t *input_used) {
    inflate_state s = {input, input_length, 0, 0, 0, output, output_capacity, 0};
    ember_inflate_status status = EMBER_INFLATE_OK;
    int last = 0;
    while (!last && status == EMBER_INFLATE_OK) {
        last = read_bits(&s, 1);
        int type = read_bits(&s, 2);
        if (last < 0 || type < 0) { status = EMBER_INFLATE_TRUNCATED; break; }
        switch (type) {
        case 0: status = inflate_stored(&s); break;
        case 1: status = inflate_fixed(&s); break;
        case 2: status = inflate_dynamic(&s); break;
        default: status = EMBER_INFLATE_BAD_BLOCK_TYPE; break;
        }
    }
    *output_length = s.output_length;
    *input_used = s.input_position;
    return status;
}
