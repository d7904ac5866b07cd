#include <doctest/doctest.h>

#include <cmath>

#include "model/counts.h"
#include "tasks/dataset.h"

using namespace sono;
using namespace sono::model;

namespace {
MultiTaskModel& b4() {
  static MultiTaskModel model(tasks::model_config());
  return model;
}
// a value of docs/reference-model.md given in millions with `digits` decimals
void check_mega(int64_t value, double expected_mega, int digits) {
  const double half_ulp = 0.5 * std::pow(10.0, -digits);
  CHECK_MESSAGE(std::fabs(double(value) / 1e6 - expected_mega) <= half_ulp + 1e-12, value, " vs ", expected_mega, "M");
}
}  // namespace

TEST_CASE("counts: B4 parameters equal docs/reference-model.md 8 exactly") {
  ParameterCounts p = count_parameters(b4());
  CHECK(p.total == 20268076);
  CHECK(p.encoder == 17548616);
  CHECK(p.encoder_used() == 16742216);
  CHECK(p.encoder_stem == 1392);
  CHECK(p.encoder_blocks == 16740824);
  CHECK(p.encoder_unused_head == 806400);
  CHECK(p.decoder == 1803008);
  CHECK(p.decoder_p5 == 114944);
  CHECK(p.decoder_p4 == 41216);
  CHECK(p.decoder_p3 == 14592);
  CHECK(p.decoder_p2 == 8448);
  CHECK(p.decoder_seg_blocks == 1623808);
  CHECK(p.heads == 916452);
  int64_t seg = 0, cls = 0, reg = 0, det = 0;
  for (const auto& kv : p.per_head) {
    const TaskSpec& t = b4().tasks().at(kv.first);
    switch (t.type) {
      case TaskType::Segmentation:
        CHECK(kv.second == 129 * t.num_classes);
        seg += kv.second;
        break;
      case TaskType::Classification:
        CHECK(kv.second == 449 * t.num_classes);
        cls += kv.second;
        break;
      case TaskType::Regression:
        CHECK(kv.second == 449 * 2 * t.num_classes);
        reg += kv.second;
        break;
      case TaskType::Detection:
        CHECK(kv.second == 296069);
        det += kv.second;
        break;
    }
  }
  CHECK(seg == 3999);
  CHECK(cls == 17960);
  CHECK(reg == 6286);
  CHECK(det == 888207);
  CHECK(p.total == p.encoder + p.decoder + p.heads);
}

TEST_CASE("counts: B4 multiply-accumulates at 256x256 equal docs/reference-model.md 9") {
  ModelMacs m = count_macs(b4(), 256, 256);
  check_mega(m.encoder.total(), 1909, 0);
  check_mega(m.encoder.pointwise(), 1754.4, 1);
  check_mega(m.encoder.se, 3.1, 1);
  check_mega(m.encoder.depthwise, 133.7, 1);
  check_mega(m.encoder.stem, 21.2, 1);
  check_mega(m.decoder.total(), 2010, 0);
  check_mega(m.decoder.seg3x3, 1944.1, 1);
  check_mega(m.decoder.lateral, 66.1, 1);
  CHECK(m.decoder.out_h == 64);
  CHECK(m.decoder.out_w == 64);
  CHECK(m.encoder.feature_sizes[5] == std::pair<int64_t, int64_t>{8, 8});
  for (const TaskMacs& t : m.tasks) {
    CAPTURE(t.id);
    const TaskSpec& s = b4().tasks().at(t.id);
    switch (t.type) {
      case TaskType::Segmentation:
        CHECK(t.head == 128 * s.num_classes * 64 * 64);
        check_mega(t.head / s.num_classes, 0.524, 3);  // 0.524 * C M
        if (s.num_classes == 2) check_mega(t.head, 1.05, 2);
        if (s.num_classes == 4) check_mega(t.head, 2.10, 2);
        if (s.num_classes == 5) check_mega(t.head, 2.62, 2);
        break;
      case TaskType::Classification: CHECK(t.head == 448 * s.num_classes); break;
      case TaskType::Regression: CHECK(t.head == 896 * s.num_classes); break;
      case TaskType::Detection:
        check_mega(t.head, 1210.6, 1);
        CHECK(t.head == 2 * 128 * 128 * 9 * 64 * 64 + 5 * 128 * 64 * 64);
        break;
    }
  }
  // per task type totals (docs/reference-model.md 9: ~1.91 G, ~3.92 G, ~5.13 G)
  const TaskMacs& cls = m.tasks[11];
  const TaskMacs& seg = m.tasks[16];
  const TaskMacs& det = m.tasks[12];
  CHECK(std::round(double(cls.total) / 1e7) == 191);
  CHECK(std::round(double(seg.total) / 1e7) == 392);
  CHECK(std::round(double(det.total) / 1e7) == 513);
}

TEST_CASE("counts: the info table names every part and task") {
  const std::string table = model_info_table(b4(), 256, 256);
  for (const char* s :
       {"20268076", "17548616", "806400", "1803008", "916452", "organ_cls", "thyroid_nodule_det", "1909.", "2010."})
    CHECK_MESSAGE(table.find(s) != std::string::npos, "missing ", s, " in\n", table);
}
