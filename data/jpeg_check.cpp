#include "data/jpeg_check.h"

namespace sono::data {

namespace {

// The tables a scan (SOS segment body at `q`, `len` bytes) decodes with, as
// stb 2.27 uses them: a baseline scan both tables of each component; a
// progressive DC scan (Ss = 0) the DC table in its first pass (Ah = 0) only;
// a progressive AC scan (Ss > 0) the AC table. Empty when all are defined.
std::string scan_problem(const uint8_t* q, size_t len, bool progressive, unsigned defined_dc, unsigned defined_ac) {
  if (len < 1) return {};
  const size_t ns = q[0];
  if (ns < 1 || ns > 4 || len < 1 + 2 * ns + 3) return {};  // stb refuses the header itself
  const uint8_t ss = q[1 + 2 * ns], ah = q[3 + 2 * ns] >> 4;
  const bool uses_dc = !progressive || (ss == 0 && ah == 0);
  const bool uses_ac = !progressive || ss > 0;
  for (size_t i = 0; i < ns; ++i) {
    const unsigned dc = q[2 + 2 * i] >> 4, ac = q[2 + 2 * i] & 15;
    if (dc > 3 || ac > 3) return {};  // stb refuses the selector
    if (uses_dc && !(defined_dc >> dc & 1))
      return "a scan uses DC Huffman table " + std::to_string(dc) + ", which the file does not define before it";
    if (uses_ac && !(defined_ac >> ac & 1))
      return "a scan uses AC Huffman table " + std::to_string(ac) + ", which the file does not define before it";
  }
  return {};
}

}  // namespace

std::string jpeg_huffman_problem(const uint8_t* d, size_t n) {
  // stb takes any run of 0xFF bytes before a marker as fill, the first one too.
  size_t p = 0;
  while (p < n && d[p] == 0xFF) ++p;
  if (p == 0 || p >= n || d[p] != 0xD8) return {};
  ++p;
  bool progressive = false, have_frame = false;
  unsigned defined_dc = 0, defined_ac = 0;  // bit t: table t was defined
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
    if (m == 0xD9) return {};  // EOI
    if (p + 4 > n) return {};
    const size_t len = size_t(d[p + 2]) << 8 | d[p + 3];  // includes its own two bytes
    if (len < 2) return {};                               // the decoder refuses it
    const size_t end = p + 2 + len < n ? p + 2 + len : n;
    if (m == 0xC4) {
      // As stb reads it: while the declared length lasts, a class/id byte, 16
      // counts (bytes past the file read as 0) and the values.
      for (size_t q = p + 4; q < p + 2 + len;) {
        size_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += q + i < n ? d[q + i] : 0;
        if (codes > 256) return "a Huffman table with more than 256 codes";
        const unsigned cls = (q < n ? d[q] : 0) >> 4, id = (q < n ? d[q] : 0) & 15;
        if (cls <= 1 && id <= 3) (cls == 0 ? defined_dc : defined_ac) |= 1u << id;
        q += 17 + codes;
      }
    } else if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
      have_frame = true;
      progressive = m == 0xC2;
    } else if (m == 0xDA && have_frame) {
      const std::string why = scan_problem(d + p + 4, end - (p + 4), progressive, defined_dc, defined_ac);
      if (!why.empty()) return why;
    }
    p = end;
  }
  return {};
}

}  // namespace sono::data
