#include "data/jpeg_check.h"

namespace sono::data {

bool jpeg_huffman_tables_ok(const uint8_t* d, size_t n) {
  // stb takes any run of 0xFF bytes before a marker as fill, the first one too.
  size_t p = 0;
  while (p < n && d[p] == 0xFF) ++p;
  if (p == 0 || p >= n || d[p] != 0xD8) return true;
  ++p;
  while (p + 1 < n) {
    if (d[p] != 0xFF) {  // entropy-coded data (after a scan) or garbage: look for the next marker
      ++p;
      continue;
    }
    const uint8_t m = d[p + 1];
    if (m == 0xFF) {  // fill byte
      ++p;
      continue;
    }
    if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) {  // stuffed byte, TEM, SOI, RSTn: no length
      p += 2;
      continue;
    }
    if (m == 0xD9) return true;  // EOI
    if (p + 4 > n) return true;
    const size_t len = size_t(d[p + 2]) << 8 | d[p + 3];  // includes its own two bytes
    if (len < 2) return true;                             // the decoder refuses it
    const size_t end = p + 2 + len < n ? p + 2 + len : n;
    if (m == 0xC4) {
      // As stb reads it: while the declared length lasts, a class/id byte, 16
      // counts (bytes past the file read as 0) and the values.
      for (size_t q = p + 4; q < p + 2 + len;) {
        size_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += q + i < n ? d[q + i] : 0;
        if (codes > 256) return false;
        q += 17 + codes;
      }
    }
    p = end;
  }
  return true;
}

}  // namespace sono::data
