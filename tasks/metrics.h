#pragma once
// The challenge's metrics, computed as the official evaluate.py computes them
// (scikit-learn and SimpleITK semantics), on plain host data.
#include <cstdint>
#include <optional>
#include <vector>

namespace sono::metrics {

// ---- segmentation ------------------------------------------------------------
// Label maps of equal size (row-major, h x w), values are class indices.
struct SegScores {
  std::vector<double> dice;       // per class, background included; 1 when both are empty
  std::vector<double> hausdorff;  // per class; 0 when both empty, the image diagonal when one is
};
SegScores segmentation_scores(const uint8_t* pred, const uint8_t* gt, int64_t h, int64_t w, int num_classes);

// Symmetric Hausdorff distance between the non-zero pixel sets of two binary
// masks, in pixels, as SimpleITK's HausdorffDistanceImageFilter (unit spacing):
// the exact Euclidean distance, via a separable squared distance transform.
// Both sets must be non-empty.
double hausdorff_distance(const uint8_t* a, const uint8_t* b, int64_t h, int64_t w);

// ---- classification --------------------------------------------------------
// sklearn f1_score(average=None, zero_division=0): one value per label in
// sorted(unique(y_true ∪ y_pred)).
std::vector<double> f1_per_label(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);
double f1_macro(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);
double f1_weighted(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);
double accuracy(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);
// sklearn matthews_corrcoef (multiclass form; 0 when undefined).
double mcc(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);
// sklearn roc_auc_score for a binary problem (positive = 1): empty when
// y_true holds a single class (sklearn raises; the official script then reports 0).
std::optional<double> auc_binary(const std::vector<int64_t>& y_true, const std::vector<double>& score);
// roc_auc_score(multi_class='ovr', average='macro') with probs[n][c]; empty
// when sklearn would raise (classes in y_true != number of columns, or rows
// not summing to 1 within numpy's allclose).
std::optional<double> auc_ovr_macro(const std::vector<int64_t>& y_true, const std::vector<std::vector<double>>& probs);

// ---- detection / regression -------------------------------------------------
// IoU of [x_min, y_min, x_max, y_max] boxes (continuous areas; 0 when the union is 0).
double box_iou(const double pred[4], const double gt[4]);
// Mean Euclidean distance between corresponding points (x0, y0, x1, y1, ...).
double mean_radial_error(const std::vector<double>& pred, const std::vector<double>& gt);

}  // namespace sono::metrics
