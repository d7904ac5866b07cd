// Segmentation: a mask file per row (mask_path), class indices per pixel.
// Head: SMP SegmentationHead on the decoder (num_classes channels); loss:
// multi-class Dice; validation: foreground Dice over the chunk; submission:
// the argmax mask as a PNG at the original size; evaluation: DSC and HD per
// non-background class.
#include "tasks/segmentation.h"

#include <filesystem>

#include "data/image.h"
#include "data/prepare.h"
#include "data/resize.h"
#include "ops/ops.h"
#include "tasks/kind_support.h"
#include "tasks/kinds.h"
#include "tasks/metrics.h"

namespace sono::tasks {

namespace fs = std::filesystem;
using nlohmann::json;

std::string submission_mask_path(const std::string& p) {
  std::string s = p;
  for (size_t pos; (pos = s.find("../")) != std::string::npos;) s.erase(pos, 3);
  return s;
}

namespace {

// The mask path as the CSV wrote it (the sample keeps the resolved one).
std::string csv_mask_path(const data::Sample& s, const std::string& csv_dir) {
  return fs::path(s.mask_path).lexically_relative(csv_dir).generic_string();
}

// Foreground Dice of utils.calculate_dice_coefficient over the whole batch.
double batch_dice(const Tensor& logits, const Tensor& masks) {
  auto pred = detail::argmax_classes(logits);
  auto gt = masks.to(Device::cpu()).contiguous().to_vector<int64_t>();
  double inter = 0, uni = 0;
  for (size_t i = 0; i < gt.size(); ++i) {
    inter += gt[i] != 0 && pred[i] == gt[i];
    uni += (gt[i] != 0) + (pred[i] != 0);
  }
  return (2.0 * inter + 1e-6) / (uni + 1e-6);
}

class Segmentation final : public TaskKind {
 public:
  TaskType type() const override { return TaskType::Segmentation; }
  const char* category() const override { return "segmentation"; }

  // A prediction row still needs mask_path: it names where the predicted mask goes.
  bool row_has_target(const data::RowFields& row) const override {
    row.require("mask_path");
    return true;
  }
  void read_target(const data::RowFields& row, data::Sample& s) const override {
    s.mask_path = row.resolve(row.require("mask_path"));
  }
  void allocate_targets(data::Batch& b, int64_t batch, int64_t size, int64_t) const override {
    b.masks = Tensor::empty({batch, size, size}, DType::I64);
  }
  void fill_target(data::Batch& b, int64_t i, const data::Sample& s, const data::ResizedImage& img, int64_t size,
                   data::ImageCache* cache) const override {
    std::shared_ptr<const data::Image> mask =
        cache ? cache->mask(s, size, img.height, img.width)
              : std::make_shared<const data::Image>(data::load_resized_mask(s, size, img.height, img.width));
    int64_t* out = b.masks.data<int64_t>() + i * size * size;
    for (int64_t k = 0; k < size * size; ++k) out[k] = mask->pixels[size_t(k)];
  }

  int64_t output_channels(int64_t num_classes) const override { return num_classes; }
  std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec, const model::HeadInputs& in) const override {
    return std::make_shared<model::SegmentationHead>(spec, in.decoder_channels, output_channels(spec.num_classes));
  }

  Tensor loss(const data::Batch& batch, const Tensor& output) const override {
    return dice_loss(output, detail::on(batch.masks, output.device()));
  }
  void synthetic_target(data::Batch& b, int64_t c, int64_t size, std::mt19937_64& rng) const override {
    std::vector<int64_t> m(size_t(b.size() * size * size));
    for (size_t i = 0; i < m.size(); ++i) m[i] = int64_t(rng() % uint64_t(c));
    b.masks = Tensor::from_vector(m, {b.size(), size, size});
  }

  void validation_metrics(const Tensor& out, const data::Batch& batch, int64_t, MetricLists& v) const override {
    v["Dice"].push_back(batch_dice(out, batch.masks));
  }

  const char* submission_file() const override { return ""; }
  void submit(const Tensor& out, const data::Batch& batch, const std::string&, const SubmissionDirs& dirs,
              json&) const override {
    auto labels = argmax(out, 1).contiguous().to_vector<int64_t>();
    const int64_t h = out.size(2), w = out.size(3);
    for (int64_t i = 0; i < batch.size(); ++i) {
      data::Image small(h, w, 1);
      for (int64_t k = 0; k < h * w; ++k) small.pixels[size_t(k)] = uint8_t(labels[size_t(i * h * w + k)]);
      data::Image full = data::resize_nearest(small, batch.heights[size_t(i)], batch.widths[size_t(i)]);
      const data::Sample& s = batch.samples[size_t(i)];
      fs::path dst = fs::path(dirs.out_dir) / submission_mask_path(csv_mask_path(s, dirs.csv_dir));
      fs::create_directories(dst.parent_path());
      data::write_png(dst.string(), full);
    }
  }

  json evaluate(const EvaluationTask& t, int64_t& missing) const override {
    const int64_t c = t.task.num_classes;
    std::vector<std::vector<double>> dsc(static_cast<size_t>(c)), hd(static_cast<size_t>(c));
    int64_t n = 0;
    for (const data::Sample* s : t.rows) {
      fs::path p = fs::path(t.dirs.out_dir) / submission_mask_path(csv_mask_path(*s, t.dirs.csv_dir));
      std::error_code ec;
      const fs::file_status st = fs::status(p, ec);
      if (!fs::exists(st)) {
        ++missing;
        continue;
      }
      SONO_CHECK(fs::is_regular_file(st), "evaluate", "predicted mask ", p.string(), " (for ", data::row_location(*s),
                 ") is ", fs::is_directory(st) ? "a directory" : "not a regular file", ", not a PNG file");
      data::Image gt = data::read_mask(s->mask_path, c);
      data::Image pm = data::read_mask(p.string(), 256);
      // predict writes masks at the original size; another size is a different
      // image or a broken file, never resized into a score.
      SONO_CHECK(pm.height == gt.height && pm.width == gt.width, "evaluate", "predicted mask ", p.string(), " is ",
                 pm.width, "x", pm.height, " but its ground truth ", s->mask_path, " is ", gt.width, "x", gt.height,
                 " (width x height): a prediction must have the ground truth's size");
      auto sc = metrics::segmentation_scores(pm.pixels.data(), gt.pixels.data(), gt.height, gt.width, int(c));
      for (int64_t k = 0; k < c; ++k) {
        dsc[size_t(k)].push_back(sc.dice[size_t(k)]);
        hd[size_t(k)].push_back(sc.hausdorff[size_t(k)]);
      }
      ++n;
    }
    json per_class = json::object();
    std::vector<double> fg_dsc, fg_hd;
    for (int64_t k = 0; k < c && n > 0; ++k) {
      per_class["class_" + std::to_string(k)] = {{"DSC", detail::mean(dsc[size_t(k)])},
                                                 {"HD", detail::mean(hd[size_t(k)])}};
      if (k > 0) fg_dsc.push_back(detail::mean(dsc[size_t(k)])), fg_hd.push_back(detail::mean(hd[size_t(k)]));
    }
    return {{"DSC", detail::mean(fg_dsc)}, {"HD", detail::mean(fg_hd)}, {"num_samples", n}, {"per_class", per_class}};
  }
  std::vector<const char*> summary_metrics() const override { return {"DSC", "HD"}; }
};

}  // namespace

const TaskKind& segmentation_kind() {
  static const Segmentation kind;
  return kind;
}

}  // namespace sono::tasks
