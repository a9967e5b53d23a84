// CRC-32 with the reflected polynomial 0xEDB88320 (zip, PNG, gzip), one table lookup per byte.
#include "include/ember_compress.h"

// The table is built at compile time by a constant expression would need C23; instead it is
// filled once by a constructor so every later call only reads it (no lazy-init race).
static uint32_t crc_table[256];

__attribute__((constructor)) static void ember_crc32_build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

uint32_t ember_crc32(uint32_t crc, const uint8_t *data, size_t length) {
    if (crc_table[1] == 0) ember_crc32_build_table(); // constructors skipped (static linking quirks)
    crc = ~crc;
    for (size_t i = 0; i < length; i++) crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
