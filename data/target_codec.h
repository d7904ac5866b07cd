#pragma once
// The kind-specific half of reading a dataset: which CSV columns hold a row's
// target and how a target becomes the batch's tensors. The dataset reader and
// the batch builder call through this interface and never look at the kind;
// each task kind implements it once (tasks/, whose TaskKind derives from it)
// and the caller of read_dataset passes the lookup (tasks::target_codec).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/task_type.h"
#include "data/sample.h"

namespace sono::data {

struct Batch;
struct ResizedImage;
class ImageCache;

// One CSV row, by column name. Every failure names the file, the line and the
// column, and is reported by the reader as a bad row (stop or skip).
class RowFields {
 public:
  virtual ~RowFields() = default;
  // The field's text; empty when the column is absent or the field blank.
  virtual std::optional<std::string> get(const std::string& column) const = 0;
  // The field's text; fails "missing column" / "missing value".
  virtual std::string require(const std::string& column) const = 0;
  // The field parsed as a finite number / an integer ("2.0" accepted) / a
  // JSON point "[x, y]" appended to `out`; each requires the field.
  virtual double number(const std::string& column) const = 0;
  virtual int64_t integer(const std::string& column) const = 0;
  virtual void point(const std::string& column, std::vector<double>& out) const = 0;
  // A path written relative to the CSV's folder, resolved and normalised.
  virtual std::string resolve(const std::string& relative) const = 0;
  [[noreturn]] virtual void fail(const std::string& column, const std::string& what) const = 0;
};

class TargetCodec {
 public:
  virtual ~TargetCodec() = default;
  // For prediction (Targets::Optional): whether the row carries a target. A
  // row without one is kept with Sample::has_target false; a kind whose rows
  // always need a field (segmentation: mask_path, where the prediction goes)
  // fails here instead.
  virtual bool row_has_target(const RowFields& row) const = 0;
  // Reads and checks the row's target into `s` (s.num_classes is set).
  virtual void read_target(const RowFields& row, Sample& s) const = 0;
  // Allocates the batch's target tensor for `batch` rows at `size` x `size`.
  virtual void allocate_targets(Batch& b, int64_t batch, int64_t size, int64_t num_classes) const = 0;
  // Writes row `i`'s target; `img` is its resized image (original size
  // included), `cache` may be null.
  virtual void fill_target(Batch& b, int64_t i, const Sample& s, const ResizedImage& img, int64_t size,
                           ImageCache* cache) const = 0;
};

// The codec of each kind (tasks::target_codec).
using TargetCodecs = const TargetCodec& (*)(TaskType);

}  // namespace sono::data
