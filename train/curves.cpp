#include "train/curves.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/image.h"

namespace sono {

CurveData read_curves(const std::filesystem::path& path) {
  CurveData d;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("type")) continue;
    if (j["type"] == "step") d.steps.push_back({j["global_step"], j["loss"], j["task"]});
    if (j["type"] == "epoch" && j.contains("val_score")) d.epochs.push_back({j["epoch"], j["val_score"]});
  }
  return d;
}

namespace {

// A 5x7 pixel font for the few labels the plot needs (rows top to bottom, bit 4 = left).
const std::map<char, std::array<uint8_t, 7>>& font() {
  static const std::map<char, std::array<uint8_t, 7>> f = {
      {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},      {'2', {14, 17, 1, 2, 4, 8, 31}},
      {'3', {31, 2, 4, 2, 1, 17, 14}},     {'4', {2, 6, 10, 18, 31, 2, 2}},     {'5', {31, 16, 30, 1, 1, 17, 14}},
      {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},       {'8', {14, 17, 17, 14, 17, 17, 14}},
      {'9', {14, 17, 17, 15, 1, 2, 12}},   {'.', {0, 0, 0, 0, 0, 12, 12}},      {'-', {0, 0, 0, 31, 0, 0, 0}},
      {' ', {0, 0, 0, 0, 0, 0, 0}},        {'a', {0, 0, 14, 1, 15, 17, 15}},    {'c', {0, 0, 14, 16, 16, 17, 14}},
      {'e', {0, 0, 14, 17, 31, 16, 14}},   {'h', {16, 16, 22, 25, 17, 17, 17}}, {'i', {4, 0, 12, 4, 4, 4, 14}},
      {'l', {12, 4, 4, 4, 4, 4, 14}},      {'n', {0, 0, 22, 25, 17, 17, 17}},   {'o', {0, 0, 14, 17, 17, 17, 14}},
      {'p', {0, 0, 30, 17, 30, 16, 16}},   {'r', {0, 0, 22, 25, 16, 16, 16}},   {'s', {0, 0, 15, 16, 14, 1, 30}},
      {'t', {8, 8, 28, 8, 8, 9, 6}},       {'v', {0, 0, 17, 17, 17, 10, 4}},    {'x', {0, 0, 17, 10, 4, 10, 17}},
      {'(', {2, 4, 8, 8, 8, 4, 2}},        {')', {8, 4, 2, 2, 2, 4, 8}},        {'/', {1, 1, 2, 4, 8, 16, 16}},
  };
  return f;
}

struct Canvas {
  data::Image img;
  Canvas(int64_t h, int64_t w) : img(h, w, 3) { std::fill(img.pixels.begin(), img.pixels.end(), uint8_t(255)); }
  void dot(int64_t x, int64_t y, const uint8_t c[3]) {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    for (int k = 0; k < 3; ++k) img.at(y, x, k) = c[k];
  }
  void line(double x0, double y0, double x1, double y1, const uint8_t c[3]) {
    int64_t n = int64_t(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
    for (int64_t i = 0; i <= n; ++i) {
      double t = double(i) / double(n);
      dot(int64_t(std::lround(x0 + t * (x1 - x0))), int64_t(std::lround(y0 + t * (y1 - y0))), c);
    }
  }
  void text(int64_t x, int64_t y, const std::string& s, const uint8_t c[3]) {
    for (char ch : s) {
      auto it = font().find(ch);
      if (it != font().end())
        for (int r = 0; r < 7; ++r)
          for (int b = 0; b < 5; ++b)
            if (it->second[size_t(r)] & (16 >> b)) dot(x + b, y + r, c);
      x += 6;
    }
  }
};

std::string short_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

// One panel: axes, min/max labels and the series mapped into the box.
struct Panel {
  int64_t x0, y0, w, h;
  double xmin, xmax, ymin, ymax;
  double px(double x) const { return double(x0) + (xmax > xmin ? (x - xmin) / (xmax - xmin) : 0.5) * double(w); }
  double py(double y) const { return double(y0 + h) - (ymax > ymin ? (y - ymin) / (ymax - ymin) : 0.5) * double(h); }
  void frame(Canvas& c, const std::string& title) const {
    const uint8_t k[3] = {0, 0, 0};
    c.line(double(x0), double(y0), double(x0), double(y0 + h), k);
    c.line(double(x0), double(y0 + h), double(x0 + w), double(y0 + h), k);
    c.text(x0, y0 - 12, title, k);
    c.text(x0 - 40, y0, short_num(ymax), k);
    c.text(x0 - 40, y0 + h - 7, short_num(ymin), k);
    c.text(x0, y0 + h + 4, short_num(xmin), k);
    c.text(x0 + w - 30, y0 + h + 4, short_num(xmax), k);
  }
};

}  // namespace

void write_curves_png(const std::string& path, const CurveData& d) {
  Canvas c(420, 900);
  static const uint8_t palette[8][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
  const uint8_t black[3] = {0, 0, 0};
  if (!d.steps.empty()) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto& s : d.steps) lo = std::min(lo, s.loss), hi = std::max(hi, s.loss);
    Panel p{60, 30, 380, 340, double(d.steps.front().step), double(d.steps.back().step), std::min(lo, 0.0), hi};
    p.frame(c, "train loss per step");
    std::map<std::string, int> color;
    for (auto& s : d.steps) {
      int k = color.emplace(s.task, int(color.size() % 8)).first->second;
      c.dot(int64_t(p.px(double(s.step))), int64_t(p.py(s.loss)), palette[k]);
    }
    // running mean over the last 20 steps, all tasks together
    double prev_x = 0, prev_y = 0, sum = 0;
    for (size_t i = 0; i < d.steps.size(); ++i) {
      sum += d.steps[i].loss;
      if (i >= 20) sum -= d.steps[i - 20].loss;
      double m = sum / double(std::min<size_t>(i + 1, 20));
      double x = p.px(double(d.steps[i].step)), y = p.py(m);
      if (i) c.line(prev_x, prev_y, x, y, black);
      prev_x = x, prev_y = y;
    }
  }
  if (!d.epochs.empty()) {
    double lo = INFINITY, hi = -INFINITY;
    for (auto& e : d.epochs) lo = std::min(lo, e.score), hi = std::max(hi, e.score);
    Panel p{510,
            30,
            360,
            340,
            double(d.epochs.front().epoch),
            double(d.epochs.back().epoch),
            std::min(lo, 0.0),
            std::max(hi, 1e-9)};
    p.frame(c, "val score per epoch");
    for (size_t i = 0; i < d.epochs.size(); ++i) {
      double x = p.px(double(d.epochs[i].epoch)), y = p.py(d.epochs[i].score);
      for (int dx = -2; dx <= 2; ++dx)
        for (int dy = -2; dy <= 2; ++dy) c.dot(int64_t(x) + dx, int64_t(y) + dy, palette[0]);
      if (i) c.line(p.px(double(d.epochs[i - 1].epoch)), p.py(d.epochs[i - 1].score), x, y, palette[0]);
    }
  }
  data::write_png(path, c.img);
}

}  // namespace sono
