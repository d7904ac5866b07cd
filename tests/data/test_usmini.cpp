#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "core/parallel.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/image.h"
#include "tasks/dataset.h"
#include "tests/data/data_test_util.h"
#include "tests/support/skip.h"

using namespace sono;
using namespace sono::data;
namespace fs = std::filesystem;

namespace {

// The dataset roots under $SONO_USMINI: the folder itself when it holds
// csv_files/, else its train/ and val/ splits.
std::vector<fs::path> usmini_roots(std::string& why_not) {
  const char* env = std::getenv("SONO_USMINI");
  if (!env) {
    why_not = "SONO_USMINI is not set";
    return {};
  }
  const fs::path root(env);
  if (fs::is_directory(root / "csv_files")) return {root};
  std::vector<fs::path> roots;
  for (const char* split : {"train", "val"})
    if (fs::is_directory(root / split / "csv_files")) roots.push_back(root / split);
  if (roots.empty())
    why_not = str_cat("'", root.string(), "' holds neither csv_files/ nor train/ or val/ with csv_files/");
  return roots;
}

}  // namespace

TEST_CASE("usmini: every row parses, every image and mask decodes, every box lies inside its image") {
  std::string why_not;
  const std::vector<fs::path> roots = usmini_roots(why_not);
  SONO_SKIP_UNLESS(!roots.empty(), why_not);
  // Task table of usmini/SOURCES.md.
  const std::map<std::string, std::pair<TaskType, int64_t>> known = {
      {"breast_lesion", {TaskType::Segmentation, 2}},  {"breast_2cls", {TaskType::Classification, 2}},
      {"breast_3cls", {TaskType::Classification, 3}},  {"breast_lesion_det", {TaskType::Detection, 1}},
      {"fetal_head", {TaskType::Segmentation, 2}},     {"hc18_bpd", {TaskType::Regression, 2}},
      {"thyroid_nodule", {TaskType::Segmentation, 2}}, {"thyroid_nodule_det", {TaskType::Detection, 1}}};
  for (const fs::path& root : roots) {
    CAPTURE(root.string());
    Dataset ds = tasks::read_dataset(root.string());  // stops at the first bad row
    check_images(ds);
    CHECK(ds.tasks.size() == known.size());
    for (const TaskInfo& t : ds.tasks) {
      CAPTURE(t.id);
      auto it = known.find(t.id);
      REQUIRE(it != known.end());
      CHECK(t.type == it->second.first);
      CHECK(t.num_classes == it->second.second);
    }
    // Decode everything once (images shared by several tasks once).
    std::map<std::string, const Sample*> images, masks;
    for (const Sample& s : ds.samples) {
      images.emplace(s.image_path, &s);
      if (s.type == TaskType::Segmentation) masks.emplace(s.mask_path, &s);
    }
    std::vector<std::pair<std::string, const Sample*>> im(images.begin(), images.end()), mk(masks.begin(), masks.end());
    std::map<std::string, std::pair<int64_t, int64_t>> sizes;
    std::vector<std::string> errors(im.size() + mk.size());
    std::vector<std::pair<int64_t, int64_t>> dims(im.size());
    parallel_for_chunks(int64_t(im.size()), 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        try {
          Image img = read_image(im[size_t(i)].first);
          dims[size_t(i)] = {img.height, img.width};
        } catch (const Error& e) {
          errors[size_t(i)] = e.what();
        }
      }
    });
    for (size_t i = 0; i < im.size(); ++i) sizes[im[i].first] = dims[i];
    parallel_for_chunks(int64_t(mk.size()), 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const Sample& s = *mk[size_t(i)].second;
        try {
          Image m = read_mask(s.mask_path, s.num_classes);
          auto hw = sizes.at(s.image_path);
          if (m.height != hw.first || m.width != hw.second)
            errors[im.size() + size_t(i)] = str_cat(s.mask_path, ": size differs from its image");
        } catch (const Error& e) {
          errors[im.size() + size_t(i)] = e.what();
        }
      }
    });
    int64_t failed = 0;
    for (const std::string& e : errors)
      if (!e.empty() && failed++ < 5) MESSAGE(e);
    CHECK(failed == 0);
    int64_t boxes = 0;
    for (const Sample& s : ds.samples) {
      if (s.type != TaskType::Detection) continue;
      auto [h, w] = sizes.at(s.image_path);
      CHECK_NOTHROW(check_box_in_image(s, h, w));
      boxes += s.has_box;
    }
    // One batch per task through the whole pipeline.
    BatchOptions opt;
    for (int64_t t = 0; t < int64_t(ds.tasks.size()); ++t) {
      PlannedBatch p{t, {}};
      for (int64_t r = 0; r < int64_t(ds.samples.size()) && p.rows.size() < 2; ++r)
        if (ds.samples[size_t(r)].task == t) p.rows.push_back(r);
      Batch b = build_batch(ds, p, 0, 0, opt, nullptr);
      CHECK(b.images.shape() == Shape{2, 3, 256, 256});
    }
    MESSAGE(root.string() << ": " << ds.samples.size() << " rows, " << ds.tasks.size() << " tasks, " << images.size()
                          << " images, " << masks.size() << " masks, " << boxes << " boxes: all valid");
  }
}
