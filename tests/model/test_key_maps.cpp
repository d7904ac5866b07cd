#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "io/torch_checkpoint.h"
#include "model/key_maps.h"
#include "tests/support/skip.h"

using namespace sono;
using namespace sono::nn;

namespace {

// Tab-separated rows without the header line.
std::vector<std::vector<std::string>> read_tsv(const std::string& name) {
  std::ifstream in(std::string(SONO_TEST_DATA_DIR) + "/checkpoints/" + name);
  REQUIRE_MESSAGE(bool(in), "missing tests/data/checkpoints/" << name);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// docs/reference-model.md 7.3's table: lukemelas, torchvision and timm keys of B4, row by row.
struct B4Keys {
  std::vector<std::string> lukemelas, torchvision, timm;
};
B4Keys b4_keys() {
  B4Keys k;
  for (const auto& row : read_tsv("efficientnet_b4_key_map.tsv")) {
    REQUIRE(row.size() == 5);
    k.lukemelas.push_back(row[1]);
    k.torchvision.push_back(row[2]);
    k.timm.push_back(row[3]);
  }
  REQUIRE(k.lukemelas.size() == 706);
  return k;
}

void check_maps_onto_lukemelas(const std::vector<std::string>& source, EfficientNetLayout layout,
                               const std::vector<std::string>& lukemelas, const std::string& prefix = "") {
  KeyMapReport r = map_efficientnet_keys(source, layout, prefix);
  CHECK(r.layout == layout);
  REQUIRE(r.renamed.size() == 704);
  for (size_t i = 0; i < 704; ++i) {
    INFO("row " << i);
    CHECK(r.renamed[i].first == source[i]);
    CHECK(r.renamed[i].second == prefix + lukemelas[i]);
  }
  CHECK(r.dropped == std::vector<std::string>{source[704], source[705]});  // the classifier
}

bool mentions(const std::vector<std::string>& warnings, const std::string& text) {
  for (const auto& w : warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

// PyTorch checkpoints written by tools/reference/dump_checkpoints.py; "" (and a
// skip, or a failure under SONO_REQUIRE_FIXTURES=1) when the fixture is missing.
std::string checkpoint_fixture(const std::string& name) {
  return test::ref_fixture("checkpoints/" + name, "tools/reference/dump_checkpoints.py");
}

}  // namespace

TEST_CASE("key_maps: torchvision, timm and tf_efficientnet B4 keys map onto the lukemelas rows") {
  B4Keys k = b4_keys();
  check_maps_onto_lukemelas(k.torchvision, EfficientNetLayout::Torchvision, k.lukemelas);
  check_maps_onto_lukemelas(k.timm, EfficientNetLayout::Timm, k.lukemelas);
  check_maps_onto_lukemelas(k.timm, EfficientNetLayout::TimmTf, k.lukemelas, "encoder.");
  check_maps_onto_lukemelas(k.lukemelas, EfficientNetLayout::Lukemelas, k.lukemelas, "encoder.");
  CHECK(map_efficientnet_keys(k.lukemelas, EfficientNetLayout::Lukemelas).dropped ==
        std::vector<std::string>{"_fc.weight", "_fc.bias"});
}

TEST_CASE("key_maps: the mapping does not depend on the order of the source keys") {
  B4Keys k = b4_keys();
  std::vector<size_t> order(k.torchvision.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = (i * 337) % order.size();  // 337 is coprime with 706
  std::vector<std::string> shuffled;
  for (size_t i : order) shuffled.push_back(k.timm[i]);
  KeyMapReport r = map_efficientnet_keys(shuffled, EfficientNetLayout::Timm);
  for (const auto& [from, to] : r.renamed) {
    size_t row = 0;
    while (k.timm[row] != from) ++row;
    CHECK(to == k.lukemelas[row]);
  }
}

TEST_CASE("key_maps: layouts are detected from the keys") {
  B4Keys k = b4_keys();
  CHECK(detect_efficientnet_layout(k.lukemelas) == EfficientNetLayout::Lukemelas);
  CHECK(detect_efficientnet_layout(k.torchvision) == EfficientNetLayout::Torchvision);
  CHECK(detect_efficientnet_layout(k.timm) == EfficientNetLayout::Timm);
  std::vector<std::string> official;
  for (const auto& row : read_tsv("mhmtl_b4_state_dict.tsv")) official.push_back(row[1]);
  CHECK(detect_efficientnet_layout(official) == EfficientNetLayout::Official);
  CHECK_THROWS_WITH_AS(detect_efficientnet_layout({"fc.weight", "fc.bias"}),
                       doctest::Contains("fc.weight, fc.bias) fit no known EfficientNet layout"), Error);
  for (auto l : {EfficientNetLayout::Lukemelas, EfficientNetLayout::Torchvision, EfficientNetLayout::Timm,
                 EfficientNetLayout::TimmTf, EfficientNetLayout::Official})
    CHECK(parse_efficientnet_layout(efficientnet_layout_name(l)) == l);
  CHECK(parse_efficientnet_layout("smp") == EfficientNetLayout::Lukemelas);
  CHECK_FALSE(parse_efficientnet_layout("resnet").has_value());
}

TEST_CASE("key_maps: the official best_model.pth layout is the identity") {
  std::vector<std::string> keys;
  for (const auto& row : read_tsv("mhmtl_b4_state_dict.tsv")) keys.push_back(row[1]);
  REQUIRE(keys.size() == 823);
  KeyMapReport r = map_efficientnet_keys(keys, EfficientNetLayout::Official);
  REQUIRE(r.renamed.size() == 823);
  for (size_t i = 0; i < keys.size(); ++i) CHECK(r.renamed[i].first == r.renamed[i].second);
  CHECK(r.dropped.empty());
  CHECK(r.warnings.empty());
  keys.push_back("encoder._fc.weight");
  CHECK_THROWS_WITH_AS(map_efficientnet_keys(keys, EfficientNetLayout::Official),
                       doctest::Contains("1 keys do not fit this layout: encoder._fc.weight"), Error);
}

TEST_CASE("key_maps: the report states the numerical differences plainly") {
  B4Keys k = b4_keys();
  KeyMapReport tv = map_efficientnet_keys(k.torchvision, EfficientNetLayout::Torchvision);
  CHECK(mentions(tv.warnings, "uses 1e-5"));
  CHECK(mentions(tv.warnings, "symmetrically"));
  KeyMapReport timm = map_efficientnet_keys(k.timm, EfficientNetLayout::Timm);
  CHECK(mentions(timm.warnings, "uses 1e-5"));
  CHECK(mentions(timm.warnings, "tf_efficientnet"));
  KeyMapReport tf = map_efficientnet_keys(k.timm, EfficientNetLayout::TimmTf);
  CHECK(mentions(tf.warnings, "dynamically"));
  CHECK_FALSE(mentions(tf.warnings, "1e-5"));
  CHECK(map_efficientnet_keys(k.lukemelas, EfficientNetLayout::Lukemelas).warnings.empty());
  const std::string s = tv.summary();
  CHECK(s.find("torchvision -> lukemelas/SMP encoder: 704 tensors (704 renamed, 0 unchanged), 2 dropped "
               "(classifier.1.weight, classifier.1.bias)") != std::string::npos);
  CHECK(s.find("warning: BatchNorm eps") != std::string::npos);
}

TEST_CASE("key_maps: keys outside the layout and broken block structures are errors") {
  B4Keys k = b4_keys();
  std::vector<std::string> extra = k.torchvision;
  extra.push_back("features.3.0.block.5.0.weight");
  extra.push_back("avgpool.weight");
  CHECK_THROWS_WITH_AS(
      map_efficientnet_keys(extra, EfficientNetLayout::Torchvision),
      doctest::Contains("2 keys do not fit this layout: features.3.0.block.5.0.weight, avgpool.weight"), Error);
  // Stage 2 of timm without its block 1: later blocks would be misnumbered.
  std::vector<std::string> gap;
  for (const auto& key : k.timm)
    if (key.rfind("blocks.2.1.", 0) != 0) gap.push_back(key);
  CHECK_THROWS_WITH_AS(map_efficientnet_keys(gap, EfficientNetLayout::Timm),
                       doctest::Contains("stage 2 has block 2 but no block 1"), Error);
  std::vector<std::string> no_stage;
  for (const auto& key : k.torchvision)
    if (key.rfind("features.3.", 0) != 0) no_stage.push_back(key);
  CHECK_THROWS_WITH_AS(map_efficientnet_keys(no_stage, EfficientNetLayout::Torchvision),
                       doctest::Contains("stage 4 follows stage 2"), Error);
  // A layout mismatch names the keys rather than mapping anything.
  CHECK_THROWS_WITH_AS(map_efficientnet_keys(k.timm, EfficientNetLayout::Lukemelas),
                       doctest::Contains("706 keys do not fit this layout: conv_stem.weight"), Error);
}

TEST_CASE("key_maps: converting tensors renames them and shares their data") {
  NamedTensors src;
  std::vector<std::string> keys = {"conv_stem.weight",
                                   "bn1.weight",
                                   "blocks.0.0.conv_dw.weight",
                                   "blocks.0.0.bn1.weight",
                                   "blocks.0.0.conv_pw.weight",
                                   "blocks.1.0.conv_pw.weight",
                                   "blocks.1.0.conv_pwl.weight",
                                   "conv_head.weight",
                                   "bn2.bias",
                                   "classifier.weight"};
  for (size_t i = 0; i < keys.size(); ++i) src.emplace_back(keys[i], Tensor::full({2}, double(i)));
  KeyMapReport r;
  NamedTensors out = convert_efficientnet_state_dict(src, EfficientNetLayout::Timm, &r, "encoder.");
  const std::vector<std::string> want = {"encoder._conv_stem.weight",
                                         "encoder._bn0.weight",
                                         "encoder._blocks.0._depthwise_conv.weight",
                                         "encoder._blocks.0._bn1.weight",
                                         "encoder._blocks.0._project_conv.weight",
                                         "encoder._blocks.1._expand_conv.weight",
                                         "encoder._blocks.1._project_conv.weight",
                                         "encoder._conv_head.weight",
                                         "encoder._bn1.bias"};
  REQUIRE(out.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(out[i].first == want[i]);
    CHECK(out[i].second.same(src[i].second));
  }
  CHECK(r.dropped == std::vector<std::string>{"classifier.weight"});
}

TEST_CASE("key_maps: b0 checkpoints of torchvision and timm map onto the lukemelas layout") {
  for (const char* f : {"lukemelas_b0_zip.pth", "torchvision_b0.pth", "timm_b0.pth"})
    if (checkpoint_fixture(f).empty()) return;
  const NamedTensors luke = read_torch_checkpoint(checkpoint_fixture("lukemelas_b0_zip.pth")).tensors;
  for (const std::string file : {"lukemelas_b0_zip.pth", "torchvision_b0.pth", "timm_b0.pth"}) {
    INFO(file);
    const NamedTensors src = read_torch_checkpoint(checkpoint_fixture(file)).tensors;
    KeyMapReport report;
    std::vector<std::string> keys;
    for (const auto& kv : src) keys.push_back(kv.first);
    const NamedTensors out = convert_efficientnet_state_dict(src, detect_efficientnet_layout(keys), &report);
    CHECK(report.dropped.size() == 2);  // classifier weight and bias
    REQUIRE(out.size() == luke.size() - 2);
    for (size_t i = 0; i < out.size(); ++i) {
      CHECK(out[i].first == luke[i].first);
      CHECK(out[i].second.shape() == luke[i].second.shape());
    }
  }
}
