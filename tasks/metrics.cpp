#include "tasks/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "core/error.h"

namespace sono::metrics {

namespace {

// 1-d squared Euclidean distance transform of a sampled function f
// (Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled Functions").
void edt_1d(const double* f, double* d, int64_t n, std::vector<int64_t>& v, std::vector<double>& z) {
  const double inf = std::numeric_limits<double>::infinity();
  int64_t k = -1;
  for (int64_t q = 0; q < n; ++q) {
    if (f[q] == inf) continue;
    while (k >= 0) {
      double s = ((f[q] + double(q * q)) - (f[v[size_t(k)]] + double(v[size_t(k)] * v[size_t(k)]))) /
                 double(2 * (q - v[size_t(k)]));
      if (s > z[size_t(k)]) break;
      --k;
    }
    ++k;
    v[size_t(k)] = q;
    z[size_t(k)] =
        k == 0 ? -inf
               : ((f[q] + double(q * q)) - (f[v[size_t(k - 1)]] + double(v[size_t(k - 1)] * v[size_t(k - 1)]))) /
                     double(2 * (q - v[size_t(k - 1)]));
    z[size_t(k) + 1] = inf;
  }
  if (k < 0) {
    for (int64_t q = 0; q < n; ++q) d[q] = inf;
    return;
  }
  int64_t j = 0;
  for (int64_t q = 0; q < n; ++q) {
    while (z[size_t(j) + 1] < double(q)) ++j;
    double dq = double(q - v[size_t(j)]);
    d[q] = dq * dq + f[v[size_t(j)]];
  }
}

// Squared distance from every pixel to the nearest non-zero pixel of mask.
std::vector<double> squared_distance_map(const uint8_t* mask, int64_t h, int64_t w) {
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t n = std::max(h, w);
  const size_t sn = static_cast<size_t>(n);
  std::vector<double> g(static_cast<size_t>(h * w)), f(sn), d(sn), z(sn + 1);
  std::vector<int64_t> v(sn);
  for (int64_t x = 0; x < w; ++x) {  // columns
    for (int64_t y = 0; y < h; ++y) f[size_t(y)] = mask[y * w + x] ? 0.0 : inf;
    edt_1d(f.data(), d.data(), h, v, z);
    for (int64_t y = 0; y < h; ++y) g[size_t(y * w + x)] = d[size_t(y)];
  }
  for (int64_t y = 0; y < h; ++y) {  // rows
    edt_1d(&g[size_t(y * w)], d.data(), w, v, z);
    std::copy(d.begin(), d.begin() + w, g.begin() + y * w);
  }
  return g;
}

double directed_hausdorff(const uint8_t* from, const std::vector<double>& dist_to, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i)
    if (from[i]) m = std::max(m, dist_to[size_t(i)]);
  return std::sqrt(m);
}

std::vector<int64_t> sorted_labels(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::set<int64_t> s(a.begin(), a.end());
  s.insert(b.begin(), b.end());
  return {s.begin(), s.end()};
}

void check_pairs(const std::vector<int64_t>& t, size_t n, const char* op) {
  SONO_CHECK(t.size() == n, op, "y_true has ", t.size(), " entries but predictions have ", n);
}

// Mann-Whitney form of the area under the ROC curve: the probability that a
// positive scores above a negative, ties counting one half. It equals
// sklearn's trapezoidal ROC area exactly.
double mann_whitney_auc(const std::vector<bool>& positive, const std::vector<double>& score) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  double rank_sum = 0, n_pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
    double avg_rank = (double(i) + double(j) + 1) / 2;  // 1-based average rank of the tie block
    for (size_t k = i; k < j; ++k)
      if (positive[order[k]]) rank_sum += avg_rank, n_pos += 1;
    i = j;
  }
  double n_neg = double(score.size()) - n_pos;
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

}  // namespace

double hausdorff_distance(const uint8_t* a, const uint8_t* b, int64_t h, int64_t w) {
  auto da = squared_distance_map(a, h, w);
  auto db = squared_distance_map(b, h, w);
  return std::max(directed_hausdorff(a, db, h * w), directed_hausdorff(b, da, h * w));
}

SegScores segmentation_scores(const uint8_t* pred, const uint8_t* gt, int64_t h, int64_t w, int num_classes) {
  SegScores s;
  const int64_t n = h * w;
  std::vector<uint8_t> pc(static_cast<size_t>(n)), gc(static_cast<size_t>(n));
  for (int c = 0; c < num_classes; ++c) {
    int64_t sp = 0, sg = 0, inter = 0;
    for (int64_t i = 0; i < n; ++i) {
      pc[size_t(i)] = pred[i] == c;
      gc[size_t(i)] = gt[i] == c;
      sp += pc[size_t(i)];
      sg += gc[size_t(i)];
      inter += pc[size_t(i)] & gc[size_t(i)];
    }
    s.dice.push_back(sp + sg == 0 ? 1.0 : 2.0 * double(inter) / double(sp + sg));
    if (sp == 0 && sg == 0) s.hausdorff.push_back(0.0);
    else if (sp == 0 || sg == 0) s.hausdorff.push_back(std::sqrt(double(h * h + w * w)));
    else s.hausdorff.push_back(hausdorff_distance(pc.data(), gc.data(), h, w));
  }
  return s;
}

std::vector<double> f1_per_label(const std::vector<int64_t>& t, const std::vector<int64_t>& p) {
  check_pairs(t, p.size(), "f1");
  std::vector<double> out;
  for (int64_t c : sorted_labels(t, p)) {
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      tp += t[i] == c && p[i] == c;
      fp += t[i] != c && p[i] == c;
      fn += t[i] == c && p[i] != c;
    }
    double denom = 2 * tp + fp + fn;
    out.push_back(denom == 0 ? 0.0 : 2 * tp / denom);
  }
  return out;
}

double f1_macro(const std::vector<int64_t>& t, const std::vector<int64_t>& p) {
  auto f = f1_per_label(t, p);
  return f.empty() ? 0.0 : std::accumulate(f.begin(), f.end(), 0.0) / double(f.size());
}

double f1_weighted(const std::vector<int64_t>& t, const std::vector<int64_t>& p) {
  auto labels = sorted_labels(t, p);
  auto f = f1_per_label(t, p);
  double num = 0, support = 0;
  for (size_t k = 0; k < labels.size(); ++k) {
    double s = double(std::count(t.begin(), t.end(), labels[k]));
    num += f[k] * s;
    support += s;
  }
  return support == 0 ? 0.0 : num / support;
}

double accuracy(const std::vector<int64_t>& t, const std::vector<int64_t>& p) {
  check_pairs(t, p.size(), "accuracy");
  if (t.empty()) return 0.0;
  double ok = 0;
  for (size_t i = 0; i < t.size(); ++i) ok += t[i] == p[i];
  return ok / double(t.size());
}

double mcc(const std::vector<int64_t>& t, const std::vector<int64_t>& p) {
  check_pairs(t, p.size(), "mcc");
  auto labels = sorted_labels(t, p);
  std::map<int64_t, double> tk, pk;
  double correct = 0, s = double(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    tk[t[i]] += 1;
    pk[p[i]] += 1;
    correct += t[i] == p[i];
  }
  double tp = 0, pp = 0, tt = 0;
  for (int64_t c : labels) {
    tp += tk[c] * pk[c];
    pp += pk[c] * pk[c];
    tt += tk[c] * tk[c];
  }
  double cov_ytyp = correct * s - tp, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
  if (cov_ypyp * cov_ytyt == 0) return 0.0;
  return cov_ytyp / std::sqrt(cov_ytyt * cov_ypyp);
}

std::optional<double> auc_binary(const std::vector<int64_t>& t, const std::vector<double>& score) {
  SONO_CHECK(t.size() == score.size(), "auc", "y_true has ", t.size(), " entries but scores have ", score.size());
  std::set<int64_t> classes(t.begin(), t.end());
  if (classes.size() != 2) return std::nullopt;
  std::vector<bool> pos(t.size());
  for (size_t i = 0; i < t.size(); ++i) pos[i] = t[i] == *classes.rbegin();
  return mann_whitney_auc(pos, score);
}

std::optional<double> auc_ovr_macro(const std::vector<int64_t>& t, const std::vector<std::vector<double>>& probs) {
  SONO_CHECK(t.size() == probs.size(), "auc", "y_true has ", t.size(), " entries but probabilities have ",
             probs.size());
  if (t.empty()) return std::nullopt;
  const size_t c = probs[0].size();
  for (const auto& row : probs) {
    if (row.size() != c) return std::nullopt;
    double sum = std::accumulate(row.begin(), row.end(), 0.0);
    if (!(std::fabs(1.0 - sum) <= 1e-8 + 1e-5 * std::fabs(sum))) return std::nullopt;  // numpy allclose(1, sum)
  }
  std::set<int64_t> classes(t.begin(), t.end());
  if (classes.size() != c) return std::nullopt;
  double total = 0;
  size_t k = 0;
  for (int64_t cls : classes) {  // column k belongs to the k-th sorted class
    std::vector<bool> pos(t.size());
    std::vector<double> score(t.size());
    for (size_t i = 0; i < t.size(); ++i) pos[i] = t[i] == cls, score[i] = probs[i][k];
    total += mann_whitney_auc(pos, score);
    ++k;
  }
  return total / double(c);
}

double box_iou(const double p[4], const double g[4]) {
  double iw = std::max(0.0, std::min(p[2], g[2]) - std::max(p[0], g[0]));
  double ih = std::max(0.0, std::min(p[3], g[3]) - std::max(p[1], g[1]));
  double inter = iw * ih;
  double uni = (p[2] - p[0]) * (p[3] - p[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter;
  return uni == 0 ? 0.0 : inter / uni;
}

double mean_radial_error(const std::vector<double>& p, const std::vector<double>& g) {
  SONO_CHECK(p.size() == g.size() && p.size() % 2 == 0 && !p.empty(), "mre", "predicted ", p.size(),
             " and ground-truth ", g.size(), " coordinates must be equal, even and non-zero in number");
  double s = 0;
  for (size_t i = 0; i < p.size(); i += 2) s += std::hypot(p[i] - g[i], p[i + 1] - g[i + 1]);
  return s / double(p.size() / 2);
}

}  // namespace sono::metrics
