#ifndef EMBER_COMPRESS_H
#define EMBER_COMPRESS_H

// DEFLATE (RFC 1951) and CRC-32 (ISO 3309, as used by zip) for reading and writing .npz and
// PyTorch checkpoints without depending on zlib. Written from the RFC: a bit-at-a-time
// canonical Huffman decoder (simple and easy to bound-check; these archives are small) and
// an encoder with LZ77 hash chains over fixed-Huffman blocks.
//
// Every function works on caller-owned buffers with explicit capacities and never reads or
// writes outside them, whatever the input bytes are.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes of `ember_inflate`.
typedef enum {
    EMBER_INFLATE_OK = 0,
    EMBER_INFLATE_TRUNCATED = 1,       // input ended inside a block
    EMBER_INFLATE_OUTPUT_FULL = 2,     // the output would exceed its capacity
    EMBER_INFLATE_BAD_BLOCK_TYPE = 3,  // block type 3 (reserved)
    EMBER_INFLATE_BAD_STORED_LENGTH = 4,
    EMBER_INFLATE_BAD_CODE_LENGTHS = 5, // over-subscribed or inconsistent Huffman tables
    EMBER_INFLATE_BAD_SYMBOL = 6,      // a code that no symbol uses, or a reserved symbol
    EMBER_INFLATE_BAD_DISTANCE = 7     // a back-reference before the start of the output
} ember_inflate_status;

/// Decompresses a raw DEFLATE stream (no zlib or gzip wrapper) into `output`.
/// On success `*output_length` is the number of bytes written and `*input_used` the bytes
/// consumed. Fails with EMBER_INFLATE_OUTPUT_FULL rather than writing past `output_capacity`.
ember_inflate_status ember_inflate(const uint8_t *input, size_t input_length,
                                   uint8_t *output, size_t output_capacity,
                                   size_t *output_length, size_t *input_used);

/// An upper bound on the size `ember_deflate` produces for `input_length` bytes.
size_t ember_deflate_bound(size_t input_length);

/// Compresses `input` into a raw DEFLATE stream. `level` 0 writes stored blocks; any other
/// level uses LZ77 matching with fixed Huffman codes (falling back to stored blocks when
/// that would be smaller). Returns the compressed size, or 0 when `output_capacity` is below
/// `ember_deflate_bound(input_length)`.
size_t ember_deflate(const uint8_t *input, size_t input_length, int level,
                     uint8_t *output, size_t output_capacity);

/// Continues a CRC-32 (start with crc = 0).
uint32_t ember_crc32(uint32_t crc, const uint8_t *data, size_t length);

#ifdef __cplusplus
}
#endif

#endif
