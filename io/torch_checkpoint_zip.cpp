#include "io/torch_checkpoint_zip.h"

#include <array>

#include "core/error.h"

namespace sono::nn::detail {

namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr uint64_t kCentralHeaderSize = 46, kLocalHeaderSize = 30;

// Slicing-by-8 tables: a 100 MB checkpoint is checked in well under a second.
struct Crc32Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  Crc32Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};

}  // namespace

uint32_t crc32(const uint8_t* p, size_t n) {
  static const Crc32Tables tables;
  const auto& t = tables.t;
  uint32_t c = 0xffffffffu;
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo = load_le32(p) ^ c, hi = load_le32(p + 4);
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^ t[3][hi & 0xff] ^
        t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
  }
  for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

ZipArchive::ZipArchive(const uint8_t* data, size_t size, std::string context, uint64_t max_entries)
    : data_(data), size_(size), context_(std::move(context)), max_entries_(max_entries) {
  parse();
}

void ZipArchive::fail(const std::string& what) const { throw Error(context_ + ": zip archive: " + what); }

void ZipArchive::parse() {
  if (size_ < kEndSize) fail(str_cat("too short (", size_, " bytes) to hold an end-of-central-directory record"));
  // The end record is the last signature whose comment reaches exactly to the end.
  uint64_t end = UINT64_MAX;
  const uint64_t lowest = size_ > kEndSize + 0xffff ? size_ - kEndSize - 0xffff : 0;
  for (uint64_t pos = size_ - kEndSize + 1; pos-- > lowest;) {
    if (load_le32(data_ + pos) == kEndSig && pos + kEndSize + load_le16(data_ + pos + 20) == size_) {
      end = pos;
      break;
    }
  }
  if (end == UINT64_MAX) fail("no end-of-central-directory record (truncated or not a zip file)");
  const uint8_t* e = data_ + end;
  uint64_t disk = load_le16(e + 4), cd_disk = load_le16(e + 6);
  uint64_t count = load_le16(e + 10), cd_size = load_le32(e + 12), cd_offset = load_le32(e + 16);

  if (end >= kZip64LocatorSize && load_le32(data_ + end - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint8_t* loc = data_ + end - kZip64LocatorSize;
    uint64_t z_end = load_le64(loc + 8), z_end_stop;
    if (add_overflows(z_end, kZip64EndSize, &z_end_stop) || z_end_stop > end - kZip64LocatorSize)
      fail(str_cat("ZIP64 end record offset ", z_end, " is outside the archive"));
    const uint8_t* z = data_ + z_end;
    if (load_le32(z) != kZip64EndSig) fail(str_cat("no ZIP64 end record at offset ", z_end));
    disk = load_le32(z + 16);
    cd_disk = load_le32(z + 20);
    count = load_le64(z + 32);
    cd_size = load_le64(z + 40);
    cd_offset = load_le64(z + 48);
  }
  if (disk != 0 || cd_disk != 0) fail("multi-volume archives are not supported");
  uint64_t cd_end;
  if (add_overflows(cd_offset, cd_size, &cd_end) || cd_end > end)
    fail(str_cat("central directory (offset ", cd_offset, ", ", cd_size, " bytes) is outside the archive"));
  if (count > max_entries_) fail(str_cat(count, " entries exceed the limit of ", max_entries_));
  if (count > cd_size / kCentralHeaderSize)
    fail(str_cat(count, " entries cannot fit in a central directory of ", cd_size, " bytes"));
  entries_.reserve(count);
  uint64_t pos = cd_offset;
  for (uint64_t i = 0; i < count; ++i) parse_entry(pos, cd_end);
}

void ZipArchive::parse_entry(uint64_t& pos, uint64_t cd_end) {
  if (cd_end - pos < kCentralHeaderSize || load_le32(data_ + pos) != kCentralHeaderSig)
    fail(str_cat("bad central directory entry at offset ", pos));
  const uint8_t* h = data_ + pos;
  ZipEntry z;
  z.flags = load_le16(h + 8);
  z.method = load_le16(h + 10);
  z.crc32 = load_le32(h + 16);
  uint64_t csize = load_le32(h + 20), usize = load_le32(h + 24);
  const uint64_t name_len = load_le16(h + 28), extra_len = load_le16(h + 30), comment_len = load_le16(h + 32);
  uint64_t local = load_le32(h + 42);
  const uint64_t var_len = name_len + extra_len + comment_len;
  if (cd_end - pos - kCentralHeaderSize < var_len)
    fail(str_cat("central directory entry at offset ", pos, " is truncated"));
  z.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);

  // ZIP64 extended information: the 64-bit values of the saturated fields, in this order.
  const uint8_t* x = h + kCentralHeaderSize + name_len;
  for (uint64_t k = 0; k + 4 <= extra_len;) {
    const uint16_t id = load_le16(x + k), len = load_le16(x + k + 2);
    if (k + 4 + len > extra_len) fail(str_cat("entry '", z.name, "': extra field overruns its header"));
    if (id == 0x0001) {
      const uint8_t* f = x + k + 4;
      uint64_t left = len;
      for (uint64_t* v : {&usize, &csize, &local}) {
        if (*v != 0xffffffffu) continue;
        if (left < 8) fail(str_cat("entry '", z.name, "': ZIP64 extra field is too short"));
        *v = load_le64(f);
        f += 8;
        left -= 8;
      }
    }
    k += 4 + len;
  }
  pos += kCentralHeaderSize + var_len;

  // The local header repeats the name; its extra field (PyTorch's alignment padding) may differ.
  uint64_t local_end;
  if (add_overflows(local, kLocalHeaderSize, &local_end) || local_end > size_ ||
      load_le32(data_ + local) != kLocalHeaderSig)
    fail(str_cat("entry '", z.name, "': no local header at offset ", local));
  const uint8_t* l = data_ + local;
  const uint64_t l_name = load_le16(l + 26), l_extra = load_le16(l + 28);
  if (l_name != name_len || size_ - local_end < l_name + l_extra ||
      z.name.compare(0, std::string::npos, reinterpret_cast<const char*>(l + kLocalHeaderSize), l_name) != 0)
    fail(str_cat("entry '", z.name, "': local header at offset ", local, " does not match the central directory"));
  z.data_offset = local_end + l_name + l_extra;
  uint64_t data_end;
  if (add_overflows(z.data_offset, csize, &data_end) || data_end > size_)
    fail(str_cat("entry '", z.name, "': ", csize, " bytes at offset ", z.data_offset,
                 " run past the end of the archive (", size_, " bytes): truncated file?"));
  if (z.method == 0 && csize != usize)
    fail(str_cat("entry '", z.name, "': stored entry with compressed size ", csize, " != size ", usize));
  z.size = csize;
  if (!index_.emplace(z.name, entries_.size()).second) fail(str_cat("duplicate entry '", z.name, "'"));
  entries_.push_back(std::move(z));
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const uint8_t* ZipArchive::read(const ZipEntry& e, bool verify_crc) const {
  if (e.flags & 1) fail(str_cat("entry '", e.name, "' is encrypted"));
  if (e.method != 0)
    fail(str_cat("entry '", e.name, "' is compressed (method ", e.method, e.method == 8 ? ", deflate" : "",
                 "); torch.save writes uncompressed (stored) entries: re-save the checkpoint with torch.save"));
  const uint8_t* p = data_ + e.data_offset;
  if (verify_crc) {
    const uint32_t c = crc32(p, e.size);
    if (c != e.crc32)
      fail(str_cat("entry '", e.name, "': CRC-32 mismatch (stored ", e.crc32, ", computed ", c, "): corrupt file"));
  }
  return p;
}

}  // namespace sono::nn::detail
