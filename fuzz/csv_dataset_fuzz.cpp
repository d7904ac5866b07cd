// libFuzzer target for the dataset reader (data/dataset.h with the task
// kinds' target codecs, tasks/dataset.h) (fuzz/fuzz_targets.h for the rules).
// The input is written as the one CSV of a dataset folder in the scratch
// folder, beside a fixed set of tiny images and masks made at the first call
// (images/rgb.png 8x6, images/gray.png 5x9, images/broken.png (truncated),
// masks/m2.png and masks/m4.png 8x6 with values 0..1 and 0..3, masks/small.png
// 4x3). What the reader accepts then goes through check_images and
// build_batch (decode, resize, targets) as training would use it. Rows whose
// files lie outside the folder are dropped before anything is decoded: the
// fuzzer must not read arbitrary files of the machine.
#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "data/batch.h"
#include "data/image.h"
#include "fuzz/fuzz_targets.h"
#include "tasks/dataset.h"

namespace sono::fuzz {

namespace {

namespace fs = std::filesystem;
using namespace sono::data;

Image pattern(int64_t h, int64_t w, int64_t c, int classes) {
  Image img(h, w, c);
  for (size_t i = 0; i < img.pixels.size(); ++i)
    img.pixels[i] = uint8_t(classes > 0 ? (i / size_t(c)) % size_t(classes) : (i * 37) % 256);
  return img;
}

// The dataset folder with its images, made once.
const std::string& dataset_root() {
  static const std::string root = [] {
    const fs::path r = fs::path(scratch_dir()) / "dataset";
    fs::create_directories(r / "csv_files");
    fs::create_directories(r / "images");
    fs::create_directories(r / "masks");
    write_png((r / "images/rgb.png").string(), pattern(6, 8, 3, 0));
    write_png((r / "images/gray.png").string(), pattern(9, 5, 1, 0));
    write_png((r / "masks/m2.png").string(), pattern(6, 8, 1, 2));
    write_png((r / "masks/m4.png").string(), pattern(6, 8, 1, 4));
    write_png((r / "masks/small.png").string(), pattern(3, 4, 1, 2));
    fs::copy_file(r / "images/rgb.png", r / "images/broken.png");
    fs::resize_file(r / "images/broken.png", fs::file_size(r / "images/broken.png") / 2);
    return r.lexically_normal().string();
  }();
  return root;
}

bool inside(const std::string& path, const std::string& root) {
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/';
}

}  // namespace

bool csv_dataset(const uint8_t* data, size_t size) {
  const std::string& root = dataset_root();
  const fs::path csv = fs::path(root) / "csv_files" / "input.csv";
  {
    // write_scratch_file writes into the scratch folder itself; the CSV goes one level down.
    std::FILE* f = std::fopen(csv.c_str(), "wb");
    if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) std::abort();
  }
  // The reader's options vary with the input length so one run covers them all.
  const OnBadRow policy = size % 2 == 0 ? OnBadRow::Stop : OnBadRow::Skip;
  const Targets targets = (size / 2) % 2 == 0 ? Targets::Required : Targets::Optional;
  try {
    Dataset ds = sono::tasks::read_dataset(root, policy, targets);
    std::vector<Sample> kept;
    for (const Sample& s : ds.samples)
      if (inside(s.image_path, root) && (s.mask_path.empty() || inside(s.mask_path, root))) kept.push_back(s);
    ds.samples = std::move(kept);
    check_images(ds, policy);
    BatchOptions opt;
    opt.image_size = 16;
    opt.augment = size % 3 == 0;
    opt.load_targets = targets == Targets::Required;
    ImageCache cache;
    for (int64_t t = 0; t < int64_t(ds.tasks.size()); ++t) {
      PlannedBatch plan{t, {}};
      for (int64_t r = 0; r < int64_t(ds.samples.size()) && plan.rows.size() < 4; ++r)
        if (ds.samples[size_t(r)].task == t) plan.rows.push_back(r);
      if (!plan.rows.empty()) build_batch(ds, plan, 0, 0, opt, size % 5 == 0 ? &cache : nullptr);
    }
    return true;
  } catch (const sono::Error&) {
    return false;
  }
}

}  // namespace sono::fuzz

SONO_FUZZ_TARGET(csv_dataset)
