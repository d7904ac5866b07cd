#include "io/torch_checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "core/half.h"
#include "io/torch_checkpoint_pickle.h"
#include "io/torch_checkpoint_zip.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the checkpoint reader assumes a little-endian host");

namespace sono::nn {

using namespace detail;

namespace {

// 0x1950a86a20f9469cfc6c, the first pickle of a legacy file, as LONG1 bytes.
constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocolVersion = 1001;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& name, const TorchCheckpointOptions& options)
      : data_(data), size_(size), context_("torch checkpoint: " + name), options_(options) {}

  TorchCheckpoint read();

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(context_ + ": " + what); }
  uint32_t read_zip(TorchCheckpoint& out);
  uint32_t read_legacy();
  void extract(uint32_t root, TorchCheckpoint& out);
  Tensor materialize(const TensorRecord& t, const std::string& key, uint64_t& output_bytes);
  const PyObject& obj(uint32_t id) const { return heap_.objects[id]; }

  const uint8_t* data_;
  size_t size_;
  std::string context_;
  const TorchCheckpointOptions& options_;
  PickleHeap heap_;
};

TorchCheckpoint Reader::read() {
  TorchCheckpoint out;
  uint32_t root;
  if (size_ >= 4 && std::memcmp(data_, "PK\x03\x04", 4) == 0) {
    out.format = TorchCheckpointFormat::Zip;
    root = read_zip(out);
  } else if (size_ >= 2 && data_[0] == 0x80) {
    out.format = TorchCheckpointFormat::Legacy;
    root = read_legacy();
  } else if (size_ >= 262 && std::memcmp(data_ + 257, "ustar", 5) == 0) {
    fail("a tar archive (torch < 0.4 checkpoint format), not supported: re-save it with a newer torch");
  } else {
    fail("not a PyTorch checkpoint: neither a zip archive (torch >= 1.6) nor a pickle (legacy torch.save)");
  }
  out.locations = heap_.locations;
  extract(root, out);
  return out;
}

// <archive>/data.pkl names its storages <archive>/data/<key>.
uint32_t Reader::read_zip(TorchCheckpoint& out) {
  ZipArchive zip(data_, size_, context_, options_.limits.max_zip_entries);
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (pkl) fail(str_cat("zip archive holds both '", pkl->name, "' and '", e.name, "'"));
      pkl = &e;
    }
  }
  if (!pkl) {
    fail("zip archive without <archive>/data.pkl: not a torch.save checkpoint");
  }
  out.archive_name = pkl->name.substr(0, pkl->name.size() - std::strlen("/data.pkl"));
  const std::string prefix = out.archive_name + "/";
  if (zip.find(prefix + "constants.pkl"))
    fail("a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() with torch.save");
  if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
    const uint8_t* p = zip.read(*bo, options_.verify_crc32);
    const std::string order(reinterpret_cast<const char*>(p), bo->size);
    if (order != "little")
      fail("storages are stored '" + order.substr(0, 16) + "'-endian; only little-endian is supported");
  }

  size_t pos = 0;
  const uint8_t* p = zip.read(*pkl, options_.verify_crc32);
  const uint32_t root = unpickle(p, pkl->size, pos, heap_, options_.limits, context_ + ": " + pkl->name);
  for (auto& s : heap_.storages) {
    const std::string name = prefix + "data/" + s.key;
    const ZipEntry* e = zip.find(name);
    if (!e) fail("storage record '" + name + "' is missing");
    const uint64_t element_size = storage_type_info(s.type).element_size;
    uint64_t bytes;
    if (mul_overflows(s.numel, element_size, &bytes) || bytes != e->size)
      fail(str_cat("storage record '", name, "' holds ", e->size, " bytes; the pickle declares ", s.numel, " x ",
                   storage_type_info(s.type).torch_name, " elements (", element_size, " bytes each)"));
    s.data = zip.read(*e, options_.verify_crc32);
  }
  return root;
}

// Magic number, protocol version and sys_info pickles, the main pickle, the
// sorted storage keys, then per storage: int64 element count + raw bytes.
uint32_t Reader::read_legacy() {
  size_t pos = 0;
  const TorchCheckpointLimits& lim = options_.limits;
  const uint32_t magic = unpickle(data_, size_, pos, heap_, lim, context_ + ": legacy header");
  if (obj(magic).kind != Kind::BigInt || obj(magic).s.size() != sizeof(kLegacyMagic) ||
      std::memcmp(obj(magic).s.data(), kLegacyMagic, sizeof(kLegacyMagic)) != 0)
    fail("starts with a pickle but not with torch's legacy magic number: not a PyTorch checkpoint");
  const uint32_t version = unpickle(data_, size_, pos, heap_, lim, context_ + ": legacy header");
  if (obj(version).kind != Kind::Int || obj(version).i != kLegacyProtocolVersion)
    fail(str_cat("legacy protocol version is ", describe_object(heap_, version), " (expected ", kLegacyProtocolVersion,
                 ")"));
  const uint32_t sys_info = unpickle(data_, size_, pos, heap_, lim, context_ + ": legacy sys_info");
  if (obj(sys_info).kind != Kind::Dict) fail("legacy sys_info is " + describe_object(heap_, sys_info) + ", not a dict");
  const auto& items = obj(sys_info).items;
  for (size_t k = 0; k + 1 < items.size(); k += 2)
    if (obj(items[k]).kind == Kind::Str && obj(items[k]).s == "little_endian" &&
        !(obj(items[k + 1]).kind == Kind::Bool && obj(items[k + 1]).i == 1))
      fail("written on a big-endian machine (sys_info little_endian is not True): not supported");

  const uint32_t root = unpickle(data_, size_, pos, heap_, lim, context_ + ": main pickle");
  const uint32_t keys = unpickle(data_, size_, pos, heap_, lim, context_ + ": storage key list");
  if (obj(keys).kind != Kind::List) fail("storage key list is " + describe_object(heap_, keys) + ", not a list");
  const std::vector<uint32_t> key_ids = obj(keys).items;
  for (uint32_t id : key_ids) {
    if (obj(id).kind != Kind::Str) fail("storage key list holds " + describe_object(heap_, id));
    const std::string& key = obj(id).s;
    auto it = heap_.storage_by_key.find(key);
    if (it == heap_.storage_by_key.end()) fail("storage '" + key + "' is listed but no tensor refers to it");
    StorageRecord& s = heap_.storages[it->second];
    if (s.data) fail("storage '" + key + "' is listed twice");
    if (size_ - pos < 8) fail(str_cat("storage '", key, "': truncated before its size at offset ", pos));
    const uint64_t numel = load_le64(data_ + pos);
    pos += 8;
    if (numel != s.numel)
      fail(str_cat("storage '", key, "' has ", numel, " elements in the file but ", s.numel, " in the pickle"));
    uint64_t bytes;
    if (mul_overflows(numel, storage_type_info(s.type).element_size, &bytes) || bytes > size_ - pos)
      fail(str_cat("storage '", key, "': ", numel, " x ", storage_type_info(s.type).torch_name, " elements at offset ",
                   pos, " run past the end of the file (", size_, " bytes): truncated file?"));
    s.data = data_ + pos;
    pos += bytes;
  }
  return root;
}

// Copies a (possibly strided) view out of its storage into a new contiguous
// tensor, widening the element type when Sono has no equal dtype.
Tensor Reader::materialize(const TensorRecord& t, const std::string& key, uint64_t& output_bytes) {
  const StorageRecord& s = heap_.storages[t.storage];
  if (!s.data) fail("tensor '" + key + "': its storage '" + s.key + "' has no data in the file");
  const StorageTypeInfo& info = storage_type_info(s.type);
  uint64_t bytes, limit = options_.limits.max_output_bytes;
  if (limit == 0) limit = 4 * uint64_t(size_) + (uint64_t(64) << 20);
  if (mul_overflows(t.numel, dtype_size(info.dtype), &bytes) || add_overflows(output_bytes, bytes, &output_bytes) ||
      output_bytes > limit)
    fail(str_cat("tensor '", key, "' ", shape_str(t.sizes), ": the tensors would need more than ", limit,
                 " bytes (TorchCheckpointLimits::max_output_bytes)"));
  Tensor out = Tensor::empty(t.sizes, info.dtype);
  if (t.numel == 0) return out;

  // Gather in file element units: rows along the last dim, an odometer over the others.
  const uint64_t es = info.element_size;
  std::vector<uint8_t> staging;
  uint8_t* dst = static_cast<uint8_t*>(out.raw_data());
  if (es != dtype_size(info.dtype)) {
    staging.resize(t.numel * es);
    dst = staging.data();
  }
  const size_t nd = t.sizes.size();
  const int64_t inner = nd ? t.sizes[nd - 1] : 1, inner_stride = nd ? t.strides[nd - 1] : 1;
  std::vector<int64_t> idx(nd, 0);
  uint64_t src = t.offset;
  for (uint64_t done = 0; done < t.numel; done += uint64_t(inner)) {
    const uint8_t* from = s.data + src * es;
    if (inner_stride == 1) {
      std::memcpy(dst, from, uint64_t(inner) * es);
    } else {
      for (int64_t k = 0; k < inner; ++k) std::memcpy(dst + k * es, from + uint64_t(k * inner_stride) * es, es);
    }
    dst += uint64_t(inner) * es;
    for (size_t d = nd ? nd - 1 : 0; d-- > 0;) {  // advance the outer dims
      src += uint64_t(t.strides[d]);
      if (++idx[d] < t.sizes[d]) break;
      src -= uint64_t(t.strides[d]) * uint64_t(t.sizes[d]);
      idx[d] = 0;
    }
  }

  const uint8_t* in = staging.data();
  switch (s.type) {
    case StorageType::F16: {
      float* o = out.data<float>();
      for (uint64_t k = 0; k < t.numel; ++k) o[k] = half_to_float(load_le16(in + 2 * k));
      break;
    }
    case StorageType::I16: {
      int32_t* o = out.data<int32_t>();
      for (uint64_t k = 0; k < t.numel; ++k) o[k] = int16_t(load_le16(in + 2 * k));
      break;
    }
    case StorageType::I8: {
      int32_t* o = out.data<int32_t>();
      for (uint64_t k = 0; k < t.numel; ++k) o[k] = int8_t(in[k]);
      break;
    }
    case StorageType::Bool: {
      uint8_t* o = out.data<uint8_t>();
      for (uint64_t k = 0; k < t.numel; ++k) o[k] = o[k] != 0;
      break;
    }
    default: break;
  }
  return out;
}

void Reader::extract(uint32_t root, TorchCheckpoint& out) {
  uint32_t dict = root;
  if (obj(root).kind == Kind::Dict) {
    const auto& items = obj(root).items;
    for (const std::string& want : options_.unwrap_keys) {
      for (size_t k = 0; k + 1 < items.size() && out.unwrapped_key.empty(); k += 2)
        if (obj(items[k]).kind == Kind::Str && obj(items[k]).s == want && obj(items[k + 1]).kind == Kind::Dict) {
          dict = items[k + 1];
          out.unwrapped_key = want;
        }
      if (!out.unwrapped_key.empty()) break;
    }
  }
  if (obj(dict).kind != Kind::Dict)
    fail("the checkpoint holds " + describe_object(heap_, dict) + ", not a state dict (a dict of tensors)");

  // Python dict semantics: a repeated key keeps its first position and its last value.
  const auto& items = obj(dict).items;
  std::unordered_map<std::string, size_t> position;
  std::vector<std::pair<std::string, uint32_t>> entries;
  for (size_t k = 0; k + 1 < items.size(); k += 2) {
    const PyObject& key = obj(items[k]);
    const PyObject& value = obj(items[k + 1]);
    if (key.kind != Kind::Str || value.kind != Kind::Tensor) {
      const std::string what = key.kind == Kind::Str ? "'" + key.s + "' (" + describe_object(heap_, items[k + 1]) + ")"
                                                     : describe_object(heap_, items[k]) + " key";
      if (!options_.skip_non_tensors) {
        std::string hint = "set skip_non_tensors";
        if (dict == root) hint += ", or unwrap_keys (e.g. {\"state_dict\", \"model\"}) when the state dict is nested";
        fail("entry " + what + " is not a tensor: " + hint);
      }
      out.skipped.push_back(what);
      continue;
    }
    auto [it, fresh] = position.emplace(key.s, entries.size());
    if (fresh) entries.emplace_back(key.s, items[k + 1]);
    else entries[it->second].second = items[k + 1];
  }
  uint64_t output_bytes = 0;
  out.tensors.reserve(entries.size());
  for (const auto& [key, id] : entries)
    out.tensors.emplace_back(key, materialize(heap_.tensors[size_t(obj(id).i)], key, output_bytes));
}

// The file mapped read-only: storages are copied straight out of the page cache.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0) fail(std::string("cannot stat: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    size_ = size_t(st.st_size);
    if (size_ == 0) fail("empty file");
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) fail(std::string("cannot map: ") + std::strerror(errno));
    data_ = static_cast<const uint8_t*>(p);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  [[noreturn]] void fail(const std::string& what) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw Error("torch checkpoint: " + path_ + ": " + what);
  }
  std::string path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

TorchCheckpoint parse_torch_checkpoint(const uint8_t* data, size_t size, const std::string& name,
                                       const TorchCheckpointOptions& options) {
  return Reader(data, size, name, options).read();
}

TorchCheckpoint read_torch_checkpoint(const std::string& path, const TorchCheckpointOptions& options) {
  MappedFile file(path);
  return parse_torch_checkpoint(file.data(), file.size(), path, options);
}

const char* torch_checkpoint_format_name(TorchCheckpointFormat f) {
  return f == TorchCheckpointFormat::Zip ? "zip" : "legacy";
}

}  // namespace sono::nn
