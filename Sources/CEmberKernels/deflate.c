// DEFLATE encoder written from RFC 1951: greedy LZ77 matching over a 32 KiB window with hash
// chains, emitted with the fixed Huffman codes (section 3.2.6). Dynamic Huffman codes would
// gain 10-20% on typical data; the fixed codes keep the encoder short and obviously correct,
// and stored blocks are used instead whenever they are smaller (incompressible weights).
#include "include/ember_compress.h"
#include "deflate_tables.h"
#include <stdlib.h>
#include <string.h>

#define WINDOW_SIZE 32768
#define HASH_BITS 15
#define MIN_MATCH 3
#define MAX_MATCH 258
#define MAX_CHAIN 64

typedef struct {
    uint8_t *output;
    size_t capacity;
    size_t length;
    uint64_t bit_buffer;
    int bit_count;
    int overflow;
} bit_writer;

static void put_bits(bit_writer *w, uint32_t value, int count) {
    w->bit_buffer |= (uint64_t)value << w->bit_count;
    w->bit_count += count;
    while (w->bit_count >= 8) {
        if (w->length < w->capacity) w->output[w->length++] = (uint8_t)w->bit_buffer;
        else w->overflow = 1;
        w->bit_buffer >>= 8;
        w->bit_count -= 8;
    }
}

static void flush_bits(bit_writer *w) {
    if (w->bit_count > 0) put_bits(w, 0, 8 - w->bit_count);
}

// Huffman codes are sent most significant bit first, put_bits sends least significant first.
static uint32_t reverse_bits(uint32_t code, int length) {
    uint32_t result = 0;
    for (int i = 0; i < length; i++) { result = (result << 1) | (code & 1); code >>= 1; }
    return result;
}

static void put_literal(bit_writer *w, int symbol) {
    if (symbol < 144) put_bits(w, reverse_bits(0x30 + symbol, 8), 8);
    else if (symbol < 256) put_bits(w, reverse_bits(0x190 + symbol - 144, 9), 9);
    else if (symbol < 280) put_bits(w, reverse_bits(symbol - 256, 7), 7);
    else put_bits(w, reverse_bits(0xC0 + symbol - 280, 8), 8);
}

static void put_match(bit_writer *w, int length, int distance) {
    int code = 28;
    while (length_base[code] > length) code--;
    put_literal(w, 257 + code);
    put_bits(w, (uint32_t)(length - length_base[code]), length_extra[code]);
    int dcode = 29;
    while (distance_base[dcode] > distance) dcode--;
    put_bits(w, reverse_bits((uint32_t)dcode, 5), 5);
    put_bits(w, (uint32_t)(distance - distance_base[dcode]), distance_extra[dcode]);
}

static size_t stored_size(size_t n) { return n + 5 * (n / 65535 + 1); }

size_t ember_deflate_bound(size_t input_length) {
    // Fixed codes spend at most 9 bits per literal; stored blocks 5 bytes per 65535.
    size_t fixed = input_length + input_length / 8 + 16;
    size_t stored = stored_size(input_length);
    return fixed > stored ? fixed : stored;
}

static size_t write_stored(const uint8_t *input, size_t n, uint8_t *output, size_t capacity) {
    if (capacity < stored_size(n)) return 0;
    size_t out = 0, position = 0;
    do {
        size_t chunk = n - position > 65535 ? 65535 : n - position;
        int last = position + chunk == n;
        output[out++] = (uint8_t)last; // BFINAL, BTYPE=00, padded to the byte boundary
        output[out++] = (uint8_t)(chunk & 0xFF);
        output[out++] = (uint8_t)(chunk >> 8);
        output[out++] = (uint8_t)(~chunk & 0xFF);
        output[out++] = (uint8_t)((~chunk >> 8) & 0xFF);
        memcpy(output + out, input + position, chunk);
        out += chunk;
        position += chunk;
    } while (position < n);
    return out;
}

static inline uint32_t hash3(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

size_t ember_deflate(const uint8_t *input, size_t n, int level, uint8_t *output, size_t capacity) {
    if (capacity < ember_deflate_bound(n)) return 0;
    if (level == 0 || n < 16) return write_stored(input, n, output, capacity);

    int32_t *head = malloc(sizeof(int32_t) << HASH_BITS);
    int32_t *previous = malloc(sizeof(int32_t) * WINDOW_SIZE);
    if (!head || !previous) { free(head); free(previous); return write_stored(input, n, output, capacity); }
    memset(head, 0xFF, sizeof(int32_t) << HASH_BITS); // -1: empty chain

    bit_writer w = {output, capacity, 0, 0, 0, 0};
    put_bits(&w, 1, 1); // BFINAL: one block holds everything
    put_bits(&w, 1, 2); // BTYPE=01, fixed Huffman codes
    size_t position = 0;
    // Positions are stored as int32 offsets into `input`; chains only need the last 32 KiB, so
    // the hash tables are indexed modulo the window and positions are compared by distance.
    while (position < n) {
        int best_length = 0;
        size_t best_distance = 0;
        if (n - position >= MIN_MATCH) {
            uint32_t h = hash3(input + position);
            int64_t candidate = head[h];
            size_t limit = n - position < MAX_MATCH ? n - position : MAX_MATCH;
            int chain = MAX_CHAIN;
            // Positions above 2^31 would not fit the tables: store them relative to a 2 GiB
            // wrap. Inputs that large are compressed in one pass here only up to that point.
            while (candidate >= 0 && chain-- > 0) {
                size_t distance = position - (size_t)candidate;
                if (distance == 0 || distance > WINDOW_SIZE) break;
                const uint8_t *a = input + candidate, *b = input + position;
                size_t length = 0;
                while (length < limit && a[length] == b[length]) length++;
                if ((int)length > best_length) {
                    best_length = (int)length;
                    best_distance = distance;
                    if (length == limit) break;
                }
                int64_t next = previous[candidate & (WINDOW_SIZE - 1)];
                if (next >= candidate) break; // stale entry from an older window
                candidate = next;
            }
        }
        size_t advance;
        if (best_length >= MIN_MATCH) {
            put_match(&w, best_length, (int)best_distance);
            advance = (size_t)best_length;
        } else {
            put_literal(&w, input[position]);
            advance = 1;
        }
        for (size_t i = 0; i < advance; i++, position++) {
            if (n - position >= MIN_MATCH && position <= INT32_MAX) {
                uint32_t h = hash3(input + position);
                previous[position & (WINDOW_SIZE - 1)] = head[h];
                head[h] = (int32_t)position;
            }
        }
        if (w.overflow) break;
    }
    put_literal(&w, 256);
    flush_bits(&w);
    free(head);
    free(previous);
    if (w.overflow || w.length >= stored_size(n)) return write_stored(input, n, output, capacity);
    return w.length;
}
