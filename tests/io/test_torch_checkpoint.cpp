#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "io/torch_checkpoint_zip.h"
#include "tests/support/skip.h"

using namespace sono;
using namespace sono::nn;

namespace {

// ---- hand-made checkpoints ---------------------------------------------------

void put_le(std::string& b, uint64_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) b += char(k < 8 ? (v >> (8 * k)) & 0xff : 0);
}

// Writes pickle opcodes the way torch.save (protocol 2) does.
struct Pickle {
  std::string b;
  Pickle& op(uint8_t c) {
    b += char(c);
    return *this;
  }
  Pickle& proto() { return op(0x80).op(2); }
  Pickle& global(const std::string& module, const std::string& name) {
    op('c');
    b += module + "\n" + name + "\n";
    return *this;
  }
  Pickle& str(const std::string& s) {
    op('X');
    put_le(b, s.size(), 4);
    b += s;
    return *this;
  }
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').op(uint8_t(v));
    if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      put_le(b, uint64_t(v), 4);
      return *this;
    }
    op(0x8a).op(8);
    put_le(b, uint64_t(v), 8);
    return *this;
  }
  Pickle& ints(const Shape& s) {
    op('(');
    for (int64_t v : s) integer(v);
    return op('t');
  }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  Pickle& storage(const std::string& type, const std::string& key, const std::string& location, int64_t numel) {
    op('(').str("storage").global("torch", type).str(key).str(location).integer(numel).op('t');
    return op('Q');  // BINPERSID
  }
  Pickle& stop() { return op('.'); }
};

struct TensorSpec {
  std::string name, type, key;
  int64_t storage_numel, offset;
  Shape sizes, strides;
  std::string location = "cpu";
};

struct Spec {
  std::vector<TensorSpec> tensors;
  std::map<std::string, std::string> storage_bytes;  // key -> raw little-endian bytes
};

std::string main_pickle(const Spec& spec) {
  Pickle p;
  p.proto().ordered_dict().op('(');
  for (const auto& t : spec.tensors) {
    p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").op('(');
    p.storage(t.type, t.key, t.location, t.storage_numel).integer(t.offset).ints(t.sizes).ints(t.strides);
    p.op(0x89).ordered_dict().op('t').op('R');  // requires_grad False, backward_hooks OrderedDict()
  }
  p.op('u');  // SETITEMS
  // state_dict()'s _metadata attribute: BUILD with a (None, {'_metadata': {...}}) state.
  p.op('N').op('}').str("_metadata").op('}').op('s').op(0x86).op('b');
  return p.stop().b;
}

// Stored entries only, like torch.save; optionally in ZIP64 form (every size
// and offset in the ZIP64 extra field, plus the ZIP64 end records).
struct ZipFile {
  struct Item {
    std::string name, data;
    uint16_t method = 0;
  };
  std::vector<Item> items;
  bool break_crc = false;
  bool zip64 = false;
  std::string bytes() const {
    std::string out, cd;
    const uint64_t saturated = 0xffffffffu;
    for (const auto& it : items) {
      const uint64_t local = out.size();
      uint32_t crc =
          nn::detail::crc32(reinterpret_cast<const uint8_t*>(it.data.data()), it.data.size()) ^ (break_crc ? 1 : 0);
      auto header = [&](std::string& b, bool central) {
        put_le(b, central ? 0x02014b50 : 0x04034b50, 4);
        if (central) put_le(b, 45, 2);
        put_le(b, 45, 2);  // version needed
        put_le(b, 0, 2);   // flags
        put_le(b, it.method, 2);
        put_le(b, 0, 4);  // time, date
        put_le(b, crc, 4);
        put_le(b, zip64 ? saturated : it.data.size(), 4);  // compressed
        put_le(b, zip64 ? saturated : it.data.size(), 4);  // uncompressed
        put_le(b, it.name.size(), 2);
        const int extra = zip64 ? (central ? 28 : 20) : 0;
        put_le(b, extra, 2);
        if (central) {
          put_le(b, 0, 2 + 2 + 2 + 4);  // comment, disk, internal and external attributes
          put_le(b, zip64 ? saturated : local, 4);
        }
        b += it.name;
        if (zip64) {
          put_le(b, 0x0001, 2);
          put_le(b, extra - 4, 2);
          put_le(b, it.data.size(), 8);
          put_le(b, it.data.size(), 8);
          if (central) put_le(b, local, 8);
        }
      };
      header(out, false);
      out += it.data;
      header(cd, true);
    }
    const uint64_t cd_offset = out.size();
    out += cd;
    if (zip64) {
      const uint64_t record = out.size();
      put_le(out, 0x06064b50, 4);
      put_le(out, 44, 8);
      put_le(out, 45, 2);
      put_le(out, 45, 2);
      put_le(out, 0, 8);  // disks
      put_le(out, items.size(), 8);
      put_le(out, items.size(), 8);
      put_le(out, cd.size(), 8);
      put_le(out, cd_offset, 8);
      put_le(out, 0x07064b50, 4);
      put_le(out, 0, 4);
      put_le(out, record, 8);
      put_le(out, 1, 4);
    }
    put_le(out, 0x06054b50, 4);
    put_le(out, 0, 4);
    put_le(out, zip64 ? 0xffff : items.size(), 2);
    put_le(out, zip64 ? 0xffff : items.size(), 2);
    put_le(out, zip64 ? saturated : cd.size(), 4);
    put_le(out, zip64 ? saturated : cd_offset, 4);
    put_le(out, 0, 2);
    return out;
  }
};

std::string to_zip(const Spec& spec, const std::string& archive = "archive", bool zip64 = false) {
  ZipFile z;
  z.zip64 = zip64;
  z.items.push_back({archive + "/data.pkl", main_pickle(spec)});
  for (const auto& [key, bytes] : spec.storage_bytes) z.items.push_back({archive + "/data/" + key, bytes});
  z.items.push_back({archive + "/version", "3\n"});
  return z.bytes();
}

std::string legacy_header() {
  Pickle magic, version, sys_info;
  magic.proto().op(0x8a).op(10);
  const uint8_t m[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  magic.b.append(reinterpret_cast<const char*>(m), 10);
  magic.stop();
  version.proto().integer(1001).stop();
  sys_info.proto().op('}').op('(').str("protocol_version").integer(1001).str("little_endian").op(0x88);
  sys_info.str("type_sizes").op('}').op('(').str("short").integer(2).str("int").integer(4).str("long").integer(4);
  sys_info.op('u').op('u').stop();
  return magic.b + version.b + sys_info.b;
}

std::string to_legacy(const Spec& spec) {
  std::string out = legacy_header() + main_pickle(spec);
  Pickle keys;
  keys.proto().op(']').op('(');
  for (const auto& kv : spec.storage_bytes) keys.str(kv.first);
  out += keys.op('e').stop().b;
  std::map<std::string, uint64_t> element_size;
  const std::map<std::string, uint64_t> sizes = {
      {"FloatStorage", 4}, {"HalfStorage", 2}, {"BoolStorage", 1}, {"LongStorage", 8}, {"CharStorage", 1}};
  for (const auto& t : spec.tensors) element_size[t.key] = sizes.at(t.type);
  for (const auto& [key, bytes] : spec.storage_bytes) {
    put_le(out, bytes.size() / element_size.at(key), 8);
    out += bytes;
  }
  return out;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Float storage "0" = 0, 1.5, 3, ... (12 values) viewed five ways; a half, a
// bool, an int8 and a long storage; the views carry a 'cuda:0' location tag.
Spec views_spec() {
  Spec s;
  std::vector<float> f(12);
  for (int k = 0; k < 12; ++k) f[k] = 1.5f * k - 3.0f;
  s.storage_bytes["0"] = raw(f);
  s.storage_bytes["1"] = raw(std::vector<uint16_t>{0x3c00, 0xc000, 0x0001, 0x7c00});  // 1, -2, 2^-24, inf
  s.storage_bytes["2"] = raw(std::vector<uint8_t>{1, 0, 1});
  s.storage_bytes["3"] = raw(std::vector<int64_t>{-5, int64_t(1) << 40});
  s.storage_bytes["4"] = raw(std::vector<int8_t>{-128, 127});
  s.tensors = {
      {"a", "FloatStorage", "0", 12, 0, {3, 4}, {4, 1}},
      {"a_t", "FloatStorage", "0", 12, 0, {4, 3}, {1, 4}, "cuda:0"},
      {"slice", "FloatStorage", "0", 12, 5, {2, 2}, {4, 2}, "cuda:0"},
      {"expand", "FloatStorage", "0", 12, 7, {2, 3}, {0, 0}},
      {"scalar", "FloatStorage", "0", 12, 11, {}, {}},
      {"empty", "FloatStorage", "0", 12, 0, {0, 5}, {5, 1}},
      {"half", "HalfStorage", "1", 4, 0, {4}, {1}},
      {"bool", "BoolStorage", "2", 3, 0, {3}, {1}},
      {"long", "LongStorage", "3", 2, 0, {2}, {1}},
      {"char", "CharStorage", "4", 2, 0, {2}, {1}},
  };
  return s;
}

TorchCheckpoint parse(const std::string& bytes, const TorchCheckpointOptions& o = {}) {
  return parse_torch_checkpoint(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.pth", o);
}

const Tensor& get(const TorchCheckpoint& c, const std::string& name) {
  for (const auto& kv : c.tensors)
    if (kv.first == name) return kv.second;
  FAIL("no tensor " << name);
  throw 0;
}

void check_views(const TorchCheckpoint& c) {
  REQUIRE(c.tensors.size() == 10);
  CHECK(c.tensors[0].first == "a");
  CHECK(c.tensors[9].first == "char");
  auto f = [](int k) { return 1.5f * k - 3.0f; };
  const Tensor& a = get(c, "a");
  CHECK(a.shape() == Shape{3, 4});
  CHECK(a.dtype() == DType::F32);
  CHECK(a.to_vector<float>() ==
        std::vector<float>{f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11)});
  const Tensor& at = get(c, "a_t");
  CHECK(at.is_contiguous());
  CHECK(at.to_vector<float>() ==
        std::vector<float>{f(0), f(4), f(8), f(1), f(5), f(9), f(2), f(6), f(10), f(3), f(7), f(11)});
  CHECK(get(c, "slice").to_vector<float>() == std::vector<float>{f(5), f(7), f(9), f(11)});
  CHECK(get(c, "expand").to_vector<float>() == std::vector<float>(6, f(7)));
  CHECK(get(c, "scalar").dim() == 0);
  CHECK(get(c, "scalar").item() == f(11));
  CHECK(get(c, "empty").shape() == Shape{0, 5});
  // Each tensor owns its memory, even when the file shared one storage.
  CHECK(a.storage() != at.storage());
  const Tensor& h = get(c, "half");
  CHECK(h.dtype() == DType::F32);
  auto hv = h.to_vector<float>();
  CHECK(hv[0] == 1.0f);
  CHECK(hv[1] == -2.0f);
  CHECK(hv[2] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(hv[3]));
  CHECK(get(c, "bool").dtype() == DType::U8);
  CHECK(get(c, "bool").to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1});
  CHECK(get(c, "long").to_vector<int64_t>() == std::vector<int64_t>{-5, int64_t(1) << 40});
  CHECK(get(c, "char").to_vector<int32_t>() == std::vector<int32_t>{-128, 127});
  CHECK(c.locations == std::vector<std::string>{"cpu", "cuda:0"});
}

// Never a crash, never an exception other than sono::Error.
void parses_or_throws_error(const std::string& bytes, const TorchCheckpointOptions& o = {}) {
  try {
    parse(bytes, o);
  } catch (const Error&) {
  } catch (const std::exception& e) {
    FAIL("non-sono exception: " << e.what());
  }
}

std::string fixtures() {
  const char* dir = std::getenv("SONO_REF_FIXTURES");
  return dir ? std::string(dir) + "/checkpoints" : std::string();
}

// False when the file is absent (the case then skips, saying why).
bool have_fixture(const std::string& name) {
  return !test::ref_fixture("checkpoints/" + name, "tools/reference/dump_checkpoints.py").empty();
}

void check_bit_exact(const NamedTensors& actual, const NamedTensors& expected) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO(actual[i].first);
    CHECK(actual[i].first == expected[i].first);
    const Tensor& a = actual[i].second;
    const Tensor& e = expected[i].second;
    CHECK(a.dtype() == e.dtype());
    CHECK(a.shape() == e.shape());
    if (a.dtype() == e.dtype() && a.shape() == e.shape() && a.numel() > 0)
      CHECK(std::memcmp(a.raw_data(), e.contiguous().raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) == 0);
  }
}

// The expected safetensors files list tensors alphabetically; compare by name.
NamedTensors in_order_of(const NamedTensors& order, const NamedTensors& values) {
  std::map<std::string, Tensor> by_name(values.begin(), values.end());
  NamedTensors out;
  for (const auto& kv : order) {
    auto it = by_name.find(kv.first);
    if (it != by_name.end()) out.emplace_back(kv.first, it->second);
  }
  return out;
}

}  // namespace

// ---- well-formed files ----------------------------------------------------------

TEST_CASE("torch_checkpoint: zip format with views, shared storages, dtypes and cuda tags") {
  TorchCheckpoint c = parse(to_zip(views_spec(), "best_model"));
  CHECK(c.format == TorchCheckpointFormat::Zip);
  CHECK(c.archive_name == "best_model");
  check_views(c);
}

TEST_CASE("torch_checkpoint: ZIP64 archives") {
  TorchCheckpoint c = parse(to_zip(views_spec(), "big", true));
  CHECK(c.archive_name == "big");
  check_views(c);
}

TEST_CASE("torch_checkpoint: legacy format with the same content") {
  TorchCheckpoint c = parse(to_legacy(views_spec()));
  CHECK(c.format == TorchCheckpointFormat::Legacy);
  CHECK(std::string(torch_checkpoint_format_name(c.format)) == "legacy");
  check_views(c);
}

TEST_CASE("torch_checkpoint: torch 2.x zip records, protocol 4 opcodes and parameters") {
  // STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE, FRAME, BINGET, _rebuild_parameter.
  Pickle p;
  p.op(0x80).op(4).op(0x95);
  put_le(p.b, 0, 8);
  auto sglobal = [&](const std::string& m, const std::string& n) {
    p.op(0x8c).op(uint8_t(m.size()));
    p.b += m;
    p.op(0x8c).op(uint8_t(n.size()));
    p.b += n;
    p.op(0x93).op(0x94);
  };
  sglobal("collections", "OrderedDict");  // memo 0
  p.op(')').op('R').op(0x94).op('(');
  p.op(0x8c).op(1).op('w');
  sglobal("torch._utils", "_rebuild_parameter");
  sglobal("torch._utils", "_rebuild_tensor_v2");
  p.op('(').op('(').str("storage");
  sglobal("torch", "DoubleStorage");
  p.str("0").str("cpu").integer(3).op('t').op('Q').integer(0).ints({3}).ints({1}).op(0x89);
  p.op('h').op(0).op(')').op('R').op('t').op('R');            // OrderedDict() from memo 0
  p.op(0x88).op('h').op(0).op(')').op('R').op(0x87).op('R');  // _rebuild_parameter(t, True, OrderedDict())
  p.op('u').stop();
  ZipFile z;
  z.items = {{"archive/data.pkl", p.b},
             {"archive/byteorder", "little"},
             {"archive/data/0", raw(std::vector<double>{0.25, -1, 1e300})},
             {"archive/version", "3\n"},
             {"archive/.data/serialization_id", "1234"}};
  TorchCheckpoint c = parse(z.bytes());
  REQUIRE(c.tensors.size() == 1);
  CHECK(c.tensors[0].first == "w");
  CHECK(c.tensors[0].second.to_vector<double>() == std::vector<double>{0.25, -1, 1e300});

  z.items[1].data = "big";
  CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("only little-endian"), Error);
}

TEST_CASE("torch_checkpoint: wrapped state dicts and non-tensor entries") {
  // {'epoch': 3, 'state_dict': OrderedDict(w=...), 'lr': 0.5}
  Spec spec = views_spec();
  std::string inner = main_pickle(spec);
  inner = inner.substr(2, inner.size() - 3);  // without PROTO and STOP
  Pickle p;
  p.proto().op('}').op('(').str("epoch").integer(3).str("state_dict");
  p.b += inner;
  p.str("lr").op('G');
  const uint8_t half[] = {0x3f, 0xe0, 0, 0, 0, 0, 0, 0};
  p.b.append(reinterpret_cast<const char*>(half), 8);
  p.op('u').stop();
  ZipFile z;
  z.items.push_back({"ckpt/data.pkl", p.b});
  for (const auto& [key, bytes] : spec.storage_bytes) z.items.push_back({"ckpt/data/" + key, bytes});
  const std::string file = z.bytes();

  CHECK_THROWS_WITH_AS(parse(file), doctest::Contains("entry 'epoch' (int 3) is not a tensor"), Error);
  TorchCheckpointOptions o;
  o.unwrap_keys = {"model", "state_dict"};
  TorchCheckpoint c = parse(file, o);
  CHECK(c.unwrapped_key == "state_dict");
  check_views(c);
  TorchCheckpointOptions skip;
  skip.skip_non_tensors = true;
  TorchCheckpoint s = parse(file, skip);
  CHECK(s.tensors.empty());
  CHECK(s.skipped ==
        std::vector<std::string>{"'epoch' (int 3)", "'state_dict' (dict (10 entries))", "'lr' (float 0.5)"});
}

TEST_CASE("torch_checkpoint: a repeated key keeps its first position and last value") {
  Spec spec;
  spec.storage_bytes["0"] = raw(std::vector<float>{1, 2});
  spec.tensors = {{"x", "FloatStorage", "0", 2, 0, {1}, {1}},
                  {"y", "FloatStorage", "0", 2, 0, {2}, {1}},
                  {"x", "FloatStorage", "0", 2, 1, {1}, {1}}};
  TorchCheckpoint c = parse(to_zip(spec));
  REQUIRE(c.tensors.size() == 2);
  CHECK(c.tensors[0].first == "x");
  CHECK(c.tensors[0].second.item() == 2.0);
  CHECK(c.tensors[1].first == "y");
}

// ---- hostile input ------------------------------------------------------------------

TEST_CASE("torch_checkpoint: refuses every global outside the state-dict allow list") {
  for (auto [module, name] : std::vector<std::pair<std::string, std::string>>{{"os", "system"},
                                                                              {"posix", "system"},
                                                                              {"builtins", "eval"},
                                                                              {"__builtin__", "eval"},
                                                                              {"torch.storage", "_load_from_bytes"},
                                                                              {"subprocess", "Popen"},
                                                                              {"torch", "load"},
                                                                              {"collections", "defaultdict"},
                                                                              {"torch._utils", "_rebuild_qtensor"}}) {
    const std::string qualified = module + "." + name;
    INFO(qualified);
    const doctest::String refused(("refused global '" + qualified + "'").c_str());
    Pickle text;  // GLOBAL 'module name' then a call, like a malicious __reduce__
    text.proto().global(module, name).str("echo pwned").op(0x85).op('R').stop();
    ZipFile z;
    z.items = {{"evil/data.pkl", text.b}};
    CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains(refused), Error);
    CHECK_THROWS_WITH_AS(parse(legacy_header() + text.b), doctest::Contains(refused), Error);

    if (module == "torch") {
      Pickle model;
      model.proto().global("torch.nn.modules.conv", "Conv2d").stop();
      z.items = {{"m/data.pkl", model.b}};
      CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("save model.state_dict() instead"), Error);
    }
    Pickle stack;  // the protocol 4 form
    stack.op(0x80).op(4).str(module).str(name).op(0x93).stop();
    z.items = {{"evil/data.pkl", stack.b}};
    CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains(refused), Error);
  }
}

TEST_CASE("torch_checkpoint: hostile fixtures from the reference environment are refused") {
  for (const char* name : {"hostile_os_system_zip.pth", "hostile_os_system_legacy.pth"}) {
    if (!have_fixture(name)) continue;
    CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixtures() + "/" + name),
                         doctest::Contains("refused global 'os.system'"), Error);
  }
}

TEST_CASE("torch_checkpoint: absurd sizes and views outside their storage") {
  auto one = [](TensorSpec t, std::string bytes) {
    Spec s;
    s.storage_bytes["0"] = std::move(bytes);
    s.tensors = {std::move(t)};
    return s;
  };
  const std::string four = raw(std::vector<float>{1, 2, 3, 4});
  // Storage claims more than the record holds.
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", int64_t(1) << 62, 0, {4}, {1}}, four))),
                       doctest::Contains("holds 16 bytes"), Error);
  CHECK_THROWS_WITH_AS(parse(to_legacy(one({"x", "FloatStorage", "0", 5, 0, {4}, {1}}, four))),
                       doctest::Contains("4 elements in the file but 5 in the pickle"), Error);
  // Views reaching past the storage, overflowing sizes and strides.
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", 4, 1, {4}, {1}}, four))),
                       doctest::Contains("reaches element 4 of storage '0' which has 4"), Error);
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", 4, 0, {2, 2}, {1, int64_t(1) << 62}}, four))),
                       doctest::Contains("reaches element"), Error);
  CHECK_THROWS_WITH_AS(
      parse(to_zip(one({"x", "FloatStorage", "0", 4, 0, {int64_t(1) << 40, int64_t(1) << 40}, {0, 0}}, four))),
      doctest::Contains("overflows"), Error);
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", 4, 0, {3}, {1, 1}}, four))),
                       doctest::Contains("differ in length"), Error);
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", 4, 0, {-1}, {1}}, four))),
                       doctest::Contains("negative"), Error);
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", 4, 0, Shape(40, 1), Shape(40, 0)}, four))),
                       doctest::Contains("40 dims"), Error);
  // A stride-0 view is legal but must not allocate without bound.
  CHECK_THROWS_WITH_AS(parse(to_zip(one({"x", "FloatStorage", "0", 4, 0, {int64_t(1) << 40}, {0}}, four))),
                       doctest::Contains("max_output_bytes"), Error);
  // String and integer lengths larger than the pickle.
  for (uint8_t op : {uint8_t('X'), uint8_t('B'), uint8_t('T'), uint8_t(0x8b)}) {
    Pickle p;
    p.proto().op(op);
    put_le(p.b, 0x7ffffff0, 4);
    ZipFile z;
    z.items = {{"a/data.pkl", p.b + "abc"}};
    CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("truncated pickle"), Error);
  }
  Pickle p8;
  p8.proto().op(0x8d);
  put_le(p8.b, ~uint64_t(0), 8);
  ZipFile z8;
  z8.items = {{"a/data.pkl", p8.b}};
  CHECK_THROWS_WITH_AS(parse(z8.bytes()), doctest::Contains("truncated pickle"), Error);
}

TEST_CASE("torch_checkpoint: deep nesting, memo and stack abuse") {
  auto zip_of = [](const std::string& pickle) {
    ZipFile z;
    z.items = {{"a/data.pkl", pickle}};
    return z.bytes();
  };
  Pickle marks;
  marks.proto();
  marks.b += std::string(100000, '(');
  CHECK_THROWS_WITH_AS(parse(zip_of(marks.b)), doctest::Contains("nesting deeper than 256"), Error);

  // 300,000 nested 1-tuples (no MARKs): built iteratively, refused as not a dict.
  Pickle tuples;
  tuples.proto().op(')');
  tuples.b += std::string(300000, char(0x85));
  CHECK_THROWS_WITH_AS(parse(zip_of(tuples.stop().b)), doctest::Contains("not a state dict"), Error);

  // A list that contains itself.
  Pickle cycle;
  cycle.proto().op(']').op('q').op(0).op('h').op(0).op('a').stop();
  CHECK_THROWS_WITH_AS(parse(zip_of(cycle.b)), doctest::Contains("list (1 items), not a state dict"), Error);

  TorchCheckpointOptions small;
  small.limits.max_stack = 1000;
  Pickle stack;
  stack.proto();
  for (int k = 0; k < 2000; ++k) stack.op('N');
  CHECK_THROWS_WITH_AS(parse(zip_of(stack.b), small), doctest::Contains("stack deeper than 1000"), Error);

  small.limits.max_memo = 10;
  Pickle memo;
  memo.proto().op('N');
  for (uint32_t k = 0; k < 20; ++k) {
    memo.op('r');
    put_le(memo.b, 0xffffff00u + k, 4);
  }
  CHECK_THROWS_WITH_AS(parse(zip_of(memo.b), small), doctest::Contains("memo larger than 10"), Error);

  Pickle get;
  get.proto().op('j');
  put_le(get.b, 0xffffffffu, 4);
  CHECK_THROWS_WITH_AS(parse(zip_of(get.b)), doctest::Contains("memo key 4294967295 was never stored"), Error);

  Pickle empty_pop;
  empty_pop.proto().op('(').op('0');
  CHECK_THROWS_WITH_AS(parse(zip_of(empty_pop.b)), doctest::Contains("empty stack"), Error);

  Pickle unknown_op;
  unknown_op.proto().op('i');  // INST: protocol 0 object construction
  CHECK_THROWS_WITH_AS(parse(zip_of(unknown_op.b)), doctest::Contains("unsupported pickle opcode 0x69 ('i')"), Error);

  Pickle bad_reduce;
  bad_reduce.proto().ordered_dict().op('N').op('R');
  CHECK_THROWS_WITH_AS(parse(zip_of(bad_reduce.b)), doctest::Contains("cannot call dict"), Error);

  Pickle persid;
  persid.proto().str("storage").op('Q');
  CHECK_THROWS_WITH_AS(parse(zip_of(persid.b)), doctest::Contains("persistent id must be a ('storage', ...) tuple"),
                       Error);
}

TEST_CASE("torch_checkpoint: bad zip structure") {
  const std::string good = to_zip(views_spec());
  REQUIRE_NOTHROW(parse(good));
  auto patched = [&](const std::string& sig, size_t field, uint64_t value, int bytes, size_t nth = 0) {
    std::string b = good;
    size_t at = b.find(sig);
    for (size_t k = 0; k < nth; ++k) at = b.find(sig, at + 1);
    REQUIRE(at != std::string::npos);
    for (int k = 0; k < bytes; ++k) b[at + field + k] = char((value >> (8 * k)) & 0xff);
    return b;
  };
  const std::string central("PK\x01\x02", 4), end("PK\x05\x06", 4);
  CHECK_THROWS_WITH_AS(parse(patched(end, 16, 0xfffffff0u, 4)), doctest::Contains("central directory (offset"), Error);
  CHECK_THROWS_WITH_AS(parse(patched(end, 10, 60000, 2)), doctest::Contains("entries cannot fit"), Error);
  CHECK_THROWS_WITH_AS(parse(patched(central, 42, 0x7fffffffu, 4)), doctest::Contains("no local header at offset"),
                       Error);
  CHECK_THROWS_WITH_AS(parse(patched(central, 42, 1, 4, 1)), doctest::Contains("no local header at offset 1"), Error);
  CHECK_THROWS_WITH_AS(parse(patched(central, 20, 0x7fffffffu, 4, 1)), doctest::Contains("run past the end"), Error);
  CHECK_THROWS_WITH_AS(parse(patched(central, 28, 0xffff, 2)), doctest::Contains("truncated"), Error);
  CHECK_THROWS_WITH_AS(parse(good.substr(0, good.size() - 5)), doctest::Contains("no end-of-central-directory"), Error);

  ZipFile z;
  z.items = {{"a/data.pkl", main_pickle(views_spec()), 8}};
  CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("is compressed (method 8, deflate)"), Error);
  z.items = {{"a/version", "3\n"}};
  CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("without <archive>/data.pkl"), Error);
  z.items = {{"a/data.pkl", "x"}, {"a/data.pkl", "y"}};
  CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("duplicate entry 'a/data.pkl'"), Error);
  z.items = {{"a/data.pkl", "x"}, {"a/constants.pkl", "y"}};
  CHECK_THROWS_WITH_AS(parse(z.bytes()), doctest::Contains("TorchScript"), Error);
  Spec missing = views_spec();
  missing.storage_bytes.erase("3");
  CHECK_THROWS_WITH_AS(parse(to_zip(missing)), doctest::Contains("storage record 'archive/data/3' is missing"), Error);

  ZipFile crc;
  crc.items = {{"a/data.pkl", main_pickle(views_spec())}};
  crc.break_crc = true;
  CHECK_THROWS_WITH_AS(parse(crc.bytes()), doctest::Contains("CRC-32 mismatch"), Error);
  TorchCheckpointOptions no_crc;
  no_crc.verify_crc32 = false;
  CHECK_THROWS_WITH_AS(parse(crc.bytes(), no_crc), doctest::Contains("storage record 'a/data/0' is missing"), Error);
}

TEST_CASE("torch_checkpoint: not a checkpoint, and the legacy header checks") {
  CHECK_THROWS_WITH_AS(parse("hello world"), doctest::Contains("test.pth: not a PyTorch checkpoint"), Error);
  CHECK_THROWS_WITH_AS(parse(std::string("\x80\x02K\x05.", 5)), doctest::Contains("legacy magic number"), Error);
  std::string tar(512, '\0');
  tar.replace(257, 5, "ustar");
  CHECK_THROWS_WITH_AS(parse(tar), doctest::Contains("tar archive"), Error);
  std::string header = legacy_header();
  std::string big_endian = header;
  const size_t at = big_endian.find("little_endian");
  big_endian[at + std::strlen("little_endian")] = char(0x89);  // NEWTRUE -> NEWFALSE
  CHECK_THROWS_WITH_AS(parse(big_endian + main_pickle(views_spec())), doctest::Contains("big-endian"), Error);
  Spec s = views_spec();
  std::string legacy = to_legacy(s);
  CHECK_THROWS_WITH_AS(parse(legacy.substr(0, legacy.size() - 1)), doctest::Contains("truncated file"), Error);
}

TEST_CASE("torch_checkpoint: every truncation and many byte flips fail cleanly") {
  Spec spec = views_spec();
  for (const std::string& file : {to_zip(spec), to_zip(spec, "archive", true), to_legacy(spec)}) {
    for (size_t n = 0; n < file.size(); ++n) {
      INFO("truncated to " << n);
      CHECK_THROWS_AS(parse(file.substr(0, n)), Error);
    }
    TorchCheckpointOptions no_crc;  // so that flips reach the pickle and storage checks
    no_crc.verify_crc32 = false;
    for (size_t i = 0; i < file.size(); ++i)
      for (uint8_t flip : {0x01, 0x80, 0xff}) {
        std::string bad = file;
        bad[i] = char(bad[i] ^ flip);
        parses_or_throws_error(bad, no_crc);
      }
  }
}

TEST_CASE("torch_checkpoint: file errors name the path") {
  CHECK_THROWS_WITH_AS(read_torch_checkpoint("/nonexistent/x.pth"),
                       doctest::Contains("torch checkpoint: /nonexistent/x.pth: cannot open"), Error);
  CHECK_THROWS_WITH_AS(read_torch_checkpoint("."), doctest::Contains("not a regular file"), Error);
  const std::string path = "torch_checkpoint_test_roundtrip.pth";
  {
    std::ofstream f(path, std::ios::binary);
    const std::string b = to_zip(views_spec());
    f.write(b.data(), std::streamsize(b.size()));
  }
  check_views(read_torch_checkpoint(path));
  std::remove(path.c_str());
}

// ---- files written by PyTorch -------------------------------------------------------

TEST_CASE("torch_checkpoint: reference checkpoints equal their expected tensors bit for bit") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"lukemelas_b0_zip.pth", "lukemelas_b0.safetensors"},
      {"lukemelas_b0_legacy.pth", "lukemelas_b0.safetensors"},
      {"torchvision_b0.pth", "torchvision_b0.safetensors"},
      {"timm_b0.pth", "timm_b0.safetensors"},
      {"views_zip.pth", "views.safetensors"},
      {"views_legacy.pth", "views.safetensors"},
      {"cuda0_zip.pth", "views.safetensors"},
      {"cuda0_legacy.pth", "views.safetensors"},
      {"wrapped.pth", "wrapped.safetensors"}};
  for (const auto& kase : cases) {
    const std::string& file = kase.first;  // not a structured binding: INFO captures it
    const std::string& expected = kase.second;
    if (!have_fixture(file)) continue;
    INFO(file);
    TorchCheckpointOptions o;
    o.unwrap_keys = {"state_dict"};
    TorchCheckpoint c = read_torch_checkpoint(fixtures() + "/" + file, o);
    CHECK(c.format ==
          (file.find("legacy") != std::string::npos ? TorchCheckpointFormat::Legacy : TorchCheckpointFormat::Zip));
    if (file.rfind("cuda0", 0) == 0) CHECK(c.locations == std::vector<std::string>{"cuda:0"});
    if (file == "wrapped.pth") CHECK(c.unwrapped_key == "state_dict");
    SafetensorsFile e = read_safetensors(fixtures() + "/" + expected);
    check_bit_exact(c.tensors, in_order_of(c.tensors, e.tensors));
  }
}
