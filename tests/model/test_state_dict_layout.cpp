#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "model/multitask_model.h"
#include "tasks/dataset.h"

using namespace sono;
using namespace sono::model;

namespace {
struct Row {
  std::string key, shape, dtype, kind;
};

// tests/data/mhmtl_b4_state_dict.tsv: index, key, shape, dtype, numel, kind, ...
std::vector<Row> read_reference() {
  std::ifstream in(std::string(SONO_TEST_DATA_DIR) + "/mhmtl_b4_state_dict.tsv");
  REQUIRE_MESSAGE(in.good(), "cannot open ", SONO_TEST_DATA_DIR, "/mhmtl_b4_state_dict.tsv");
  std::string line;
  std::getline(in, line);  // header
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string index, numel;
    Row r;
    std::getline(ss, index, '\t');
    std::getline(ss, r.key, '\t');
    std::getline(ss, r.shape, '\t');
    std::getline(ss, r.dtype, '\t');
    std::getline(ss, numel, '\t');
    std::getline(ss, r.kind, '\t');
    rows.push_back(r);
  }
  return rows;
}

std::string shape_tsv(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

std::string dtype_tsv(DType t) {
  if (t == DType::F32) return "float32";
  if (t == DType::I64) return "int64";
  return dtype_name(t);
}
}  // namespace

TEST_CASE("model layout: the B4 state_dict equals the baseline's key for key, in order") {
  const std::vector<Row> ref = read_reference();
  REQUIRE(ref.size() == 823);
  MultiTaskModel model(tasks::model_config());
  const nn::NamedTensors sd = model.state_dict();
  REQUIRE(sd.size() == ref.size());
  std::set<std::string> params;
  for (const auto& kv : model.named_parameters()) params.insert(kv.first);
  int mismatches = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const std::string got = sd[i].first + " " + shape_tsv(sd[i].second.shape()) + " " +
                            dtype_tsv(sd[i].second.dtype()) + " " + (params.count(sd[i].first) ? "param" : "buffer");
    const std::string want = ref[i].key + " " + ref[i].shape + " " + ref[i].dtype + " " + ref[i].kind;
    if (got != want && ++mismatches <= 10) CHECK_MESSAGE(got == want, "entry ", i);
    // every tensor is named after its key (errors name the weight)
    if (sd[i].second.name() != sd[i].first && ++mismatches <= 10) CHECK(sd[i].second.name() == sd[i].first);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("model layout: the B4 encoder's convs carry docs/reference-model.md 2.4's static padding") {
  MultiTaskModel model(tasks::model_config());
  auto pads = [](const nn::Conv2d& c) {
    const Conv2dOptions& o = c.options();
    return std::array<int64_t, 5>{o.pad_left, o.pad_right, o.pad_top, o.pad_bottom, o.stride_h};
  };
  const EfficientNetEncoder& enc = model.encoder();
  CHECK(pads(enc.conv_stem()) == std::array<int64_t, 5>{0, 1, 0, 1, 2});
  REQUIRE(enc.blocks().size() == 32);
  for (size_t i = 0; i < 32; ++i) {
    CAPTURE(i);
    const nn::Conv2d& dw = enc.blocks()[i].depthwise_conv();
    const int64_t h = dw.kernel_size() / 2;
    std::array<int64_t, 5> expected{h, h, h, h, 1};  // stride-1 kxk: k/2 everywhere
    if (i == 2 || i == 10) expected = {0, 1, 0, 1, 2};
    if (i == 6) expected = {2, 2, 2, 2, 2};   // computed at 95 (odd): symmetric
    if (i == 22) expected = {1, 2, 1, 2, 2};  // computed at 24
    CHECK(pads(dw) == expected);
    CHECK(dw.options().groups == dw.in_channels());
  }
  int one_by_one = 0;
  for (auto& kv : model.named_modules())
    if (auto* c = dynamic_cast<nn::Conv2d*>(kv.second); c && c->kernel_size() == 1) {
      CHECK_MESSAGE(pads(*c) == (std::array<int64_t, 5>{0, 0, 0, 0, 1}), kv.first);
      ++one_by_one;
    }
  CHECK(one_by_one == 30 * 4 + 2 * 3 + 1 + 4 + 3 + 12);  // blocks, head conv, p5+skips, detection, segmentation
}
