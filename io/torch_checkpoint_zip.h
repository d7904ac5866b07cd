#pragma once
// Internal to the PyTorch checkpoint reader: a read-only view of a ZIP archive
// held in memory (ZIP and ZIP64 central directories, stored entries only, as
// torch.save writes them). Every offset and length is checked against the
// buffer; nothing is decompressed.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sono::nn::detail {

// Little-endian field readers; callers check bounds first.
inline uint16_t load_le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
inline uint32_t load_le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint64_t load_le64(const uint8_t* p) { return uint64_t(load_le32(p)) | (uint64_t(load_le32(p + 4)) << 32); }

// a + b and a * b into `out`; false on uint64 overflow.
inline bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }
inline bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

uint32_t crc32(const uint8_t* data, size_t size);

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // of the entry's bytes in the archive
  uint64_t size = 0;         // compressed size (== uncompressed size for stored entries)
  uint32_t crc32 = 0;
  uint16_t method = 0;  // 0 stored, 8 deflate, ...
  uint16_t flags = 0;   // bit 0: encrypted
};

class ZipArchive {
 public:
  // `context` prefixes every error ("torch checkpoint: file.pth").
  ZipArchive(const uint8_t* data, size_t size, std::string context, uint64_t max_entries);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;
  // The bytes of a stored, unencrypted entry (CRC-32 checked when asked).
  const uint8_t* read(const ZipEntry& e, bool verify_crc) const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  void parse();
  void parse_entry(uint64_t& pos, uint64_t cd_end);

  const uint8_t* data_;
  uint64_t size_;
  std::string context_;
  uint64_t max_entries_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace sono::nn::detail
