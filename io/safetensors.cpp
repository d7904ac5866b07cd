#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/autograd.h"
#include "core/half.h"
#include "io/atomic_file.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors IO assumes a little-endian host");

namespace sono::nn {

namespace {

using ordered_json = nlohmann::ordered_json;

struct DTypeInfo {
  const char* name;
  DType dtype;       // in memory
  size_t file_size;  // bytes per element in the file
};

// F16 has no Sono dtype: it is widened to f32 on read.
constexpr DTypeInfo kDTypes[] = {
    {"F32", DType::F32, 4}, {"F64", DType::F64, 8}, {"BF16", DType::BF16, 2}, {"F16", DType::F32, 2},
    {"I64", DType::I64, 8}, {"I32", DType::I32, 4}, {"U8", DType::U8, 1},
};

const DTypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

const char* file_dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t && d.file_size == dtype_size(t)) return d.name;
  return nullptr;
}

struct Entry {
  std::string name;
  const DTypeInfo* dtype;
  Shape shape;
  uint64_t begin, end;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("safetensors: " + path + ": " + what);
}

// Parses one tensor's header entry; checks the byte size against dtype and shape.
Entry parse_entry(const std::string& path, const std::string& name, const ordered_json& v, uint64_t data_size) {
  auto bad = [&](const std::string& what) { fail(path, "tensor '" + name + "': " + what); };
  if (!v.is_object()) bad("header entry is not an object");
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      bad("unknown field '" + it.key() + "'");
  if (!v.contains("dtype") || !v["dtype"].is_string()) bad("missing or non-string 'dtype'");
  Entry e{name, find_dtype(v["dtype"].get<std::string>()), {}, 0, 0};
  if (!e.dtype) bad("unsupported dtype '" + v["dtype"].get<std::string>() + "'");
  if (!v.contains("shape") || !v["shape"].is_array()) bad("missing or non-array 'shape'");
  uint64_t numel = 1;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers, got " + d.dump());
    uint64_t n = d.get<uint64_t>();
    if (n > uint64_t(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(numel, n, &numel) ||
        numel > uint64_t(std::numeric_limits<int64_t>::max()))
      bad("shape " + v["shape"].dump() + " has more elements than can be addressed");
    e.shape.push_back(int64_t(n));
  }
  const auto& off = v.contains("data_offsets") ? v["data_offsets"] : ordered_json();
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad("'data_offsets' must be [begin, end] with non-negative integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end) bad("data_offsets " + off.dump() + " has begin > end");
  if (e.end > data_size)
    bad(str_cat("data_offsets ", off.dump(), " run past the data section (", data_size, " bytes)"));
  if (numel > data_size)
    bad(str_cat("dtype ", e.dtype->name, " shape ", shape_str(e.shape), " needs more bytes than the file has"));
  if (numel * e.dtype->file_size != e.end - e.begin)
    bad(str_cat("dtype ", e.dtype->name, " shape ", shape_str(e.shape), " needs ", numel * e.dtype->file_size,
                " bytes but data_offsets ", off.dump(), " span ", e.end - e.begin));
  return e;
}

// The data must be tiled exactly: sorted by begin, each tensor starts where
// the previous one ended and the last ends at the data size.
void check_tiling(const std::string& path, std::vector<const Entry*> order, uint64_t data_size) {
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin < pos)
      fail(path, str_cat("tensor '", e->name, "' [", e->begin, ", ", e->end, ") overlaps tensor '", prev->name, "' [",
                         prev->begin, ", ", prev->end, ")"));
    if (e->begin > pos)
      fail(path, str_cat("bytes [", pos, ", ", e->begin, ") of the data section belong to no tensor (before '", e->name,
                         "')"));
    pos = e->end;
    prev = e;
  }
  if (pos != data_size)
    fail(path, str_cat("bytes [", pos, ", ", data_size, ") at the end of the data section belong to no tensor"));
}

ordered_json parse_header(const std::string& path, const std::string& text) {
  std::set<std::string> seen;
  std::string duplicate;
  // Depth 0: the top object; 1: tensor entries; 2: their fields; 3: shape /
  // offset elements. Deeper nesting is never valid and is cut off early.
  ordered_json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event, ordered_json& parsed) {
    if (depth > 3) fail(path, "header JSON is nested deeper than the format allows");
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && !seen.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  ordered_json j;
  try {
    j = ordered_json::parse(text, cb);
  } catch (const nlohmann::json::exception& ex) {
    fail(path, std::string("header is not valid JSON: ") + ex.what());
  }
  if (!duplicate.empty()) fail(path, "header names tensor '" + duplicate + "' more than once");
  if (!j.is_object()) fail(path, "header JSON is not an object");
  return j;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  if (file_size < 8) fail(path, str_cat("file has ", file_size, " bytes, fewer than the 8-byte header length"));
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > file_size - 8)
    fail(path, str_cat("header length ", header_len, " exceeds the ", file_size - 8,
                       " bytes after it (truncated or corrupt file)"));
  if (header_len > kSafetensorsMaxHeaderBytes)
    fail(path, str_cat("header length ", header_len, " exceeds the limit of ", kSafetensorsMaxHeaderBytes, " bytes"));
  if (header_len < 2) fail(path, str_cat("header length ", header_len, " is too small for a JSON object"));
  std::string text(size_t(header_len), '\0');
  in.read(text.data(), std::streamsize(header_len));
  if (!in) fail(path, "could not read the header");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;

  ordered_json j = parse_header(path, text);
  SafetensorsFile out;
  std::vector<Entry> entries;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail(path, "'__metadata__' is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) fail(path, "'__metadata__' value of '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, it.key(), it.value(), data_size));
  }
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  check_tiling(path, order, data_size);

  for (const auto& e : entries) {
    const size_t bytes = size_t(e.end - e.begin);
    Tensor t = Tensor::empty(e.shape, e.dtype->dtype);
    in.seekg(std::streamoff(data_start + e.begin));
    if (e.dtype->file_size == dtype_size(e.dtype->dtype)) {
      if (bytes) in.read(static_cast<char*>(t.raw_data()), std::streamsize(bytes));
    } else {  // F16 -> f32
      std::vector<uint16_t> half(size_t(t.numel()));
      if (bytes) in.read(reinterpret_cast<char*>(half.data()), std::streamsize(bytes));
      float* dst = t.data<float>();
      for (size_t i = 0; i < half.size(); ++i) dst[i] = half_to_float(half[i]);
    }
    if (!in) fail(path, "tensor '" + e.name + "': could not read its data (file changed or truncated?)");
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> host;
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json m = ordered_json::object();
    for (const auto& kv : metadata) m[kv.first] = kv.second;
    header["__metadata__"] = m;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& kv : tensors) {
    const std::string& name = kv.first;
    const Tensor& t = kv.second;
    if (name.empty() || name == "__metadata__") fail(path, "invalid tensor name '" + name + "'");
    if (!names.insert(name).second) fail(path, "tensor '" + name + "' is given more than once");
    if (!t.defined()) fail(path, "tensor '" + name + "' is undefined");
    const char* dt = file_dtype_name(t.dtype());
    if (!dt) fail(path, str_cat("tensor '", name, "': dtype ", dtype_name(t.dtype()), " cannot be written"));
    Tensor h = t.detach().to(Device::cpu()).contiguous();
    const uint64_t bytes = uint64_t(h.numel()) * dtype_size(h.dtype());
    header[name] = {{"dtype", dt}, {"shape", h.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    host.push_back(h);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer does
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = (uint64_t(text.size()) >> (8 * i)) & 0xffu;

  AtomicFile out(path);
  out.write(len_bytes, 8);
  out.write(text);
  for (const auto& h : host) out.write(h.raw_data(), size_t(h.numel()) * dtype_size(h.dtype()));
  out.commit();
}

}  // namespace sono::nn
