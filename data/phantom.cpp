#include "data/phantom.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/parallel.h"
#include "core/philox.h"
#include "data/image.h"
#include "io/atomic_file.h"

namespace sono::data {

namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9E3779B97F4A7C15ull + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Sequential uniform draws from one Philox key.
struct Rng {
  uint64_t key;
  uint64_t i = 0;
  double uniform(double lo, double hi) { return lo + (hi - lo) * double(philox_uniform(key, i++)); }
  int64_t integer(int64_t lo, int64_t hi) {  // inclusive
    return std::min(hi, lo + int64_t(double(hi - lo + 1) * double(philox_uniform(key, i++))));
  }
};

struct Ellipse {
  double cx, cy, a, b, theta;  // semi-axes a >= b; the major axis points at angle theta
  // Normalised radius of pixel centre (x, y): <= 1 inside.
  double radius(double x, double y) const {
    double dx = x - cx, dy = y - cy, c = std::cos(theta), s = std::sin(theta);
    double u = (dx * c + dy * s) / a, v = (-dx * s + dy * c) / b;
    return std::sqrt(u * u + v * v);
  }
};

// Echo strength per pixel before speckle.
struct Scene {
  int64_t h = 0, w = 0;
  std::vector<float> echo;
  float& at(int64_t y, int64_t x) { return echo[size_t(y * w + x)]; }
};

Scene fan_background(Rng& rng, int64_t h, int64_t w) {
  Scene sc{h, w, std::vector<float>(size_t(h * w), 3.0f)};
  const double ax = w / 2.0, ay = -0.2 * h;
  const double half_angle = rng.uniform(35, 45) * kPi / 180;
  const double r0 = 0.25 * h, r1 = 1.15 * h;
  const double gain = rng.uniform(90, 130);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double dx = x - ax, dy = y - ay, r = std::sqrt(dx * dx + dy * dy);
      if (r < r0 || r > r1 || std::abs(std::atan2(dx, dy)) > half_angle) continue;
      sc.at(y, x) = float(gain * (1.0 - 0.35 * (r - r0) / (r1 - r0)));  // depth attenuation
    }
  return sc;
}

// Multiplies the echo inside the ellipse by `inside` and in a thin band
// around it by `rim`; sets mask pixels inside to `label`.
void draw_ellipse(Scene& sc, const Ellipse& e, float inside, float rim, Image* mask, uint8_t label) {
  const double reach = e.a * 1.2 + 2;
  const int64_t x0 = std::max<int64_t>(0, int64_t(e.cx - reach)),
                x1 = std::min<int64_t>(sc.w - 1, int64_t(e.cx + reach));
  const int64_t y0 = std::max<int64_t>(0, int64_t(e.cy - reach)),
                y1 = std::min<int64_t>(sc.h - 1, int64_t(e.cy + reach));
  for (int64_t y = y0; y <= y1; ++y)
    for (int64_t x = x0; x <= x1; ++x) {
      double r = e.radius(double(x), double(y));
      if (r <= 1.0) {
        sc.at(y, x) *= inside;
        if (mask) mask->at(y, x) = label;
      } else if (r <= 1.12) {
        sc.at(y, x) *= rim;
      }
    }
}

// Speckle: Rayleigh-distributed multiplicative noise (mean 1), smoothed over
// 3x3 pixels so it looks grainy rather than white.
Image render(const Scene& sc, uint64_t key) {
  const int64_t h = sc.h, w = sc.w;
  std::vector<float> ray(size_t(h * w));
  const float sigma = std::sqrt(2.0f / float(kPi));
  for (int64_t i = 0; i < h * w; ++i) {
    float u = (float(philox_word(key, uint64_t(i)) >> 8) + 1.0f) * (1.0f / 16777216.0f);
    ray[size_t(i)] = sigma * std::sqrt(-2.0f * std::log(u));
  }
  Image img(h, w, 1);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float sum = 0;
      int n = 0;
      for (int64_t yy = std::max<int64_t>(0, y - 1); yy <= std::min(h - 1, y + 1); ++yy)
        for (int64_t xx = std::max<int64_t>(0, x - 1); xx <= std::min(w - 1, x + 1); ++xx, ++n)
          sum += ray[size_t(yy * w + xx)];
      float v = sc.echo[size_t(y * w + x)] * (0.4f + 0.6f * sum / float(n) * 1.6f);
      img.at(y, x) = uint8_t(std::clamp(std::lround(v), 0L, 255L));
    }
  return img;
}

Ellipse random_ellipse(Rng& rng, int64_t h, int64_t w, double cx_lo, double cx_hi, double max_a) {
  const double m = double(std::min(h, w));
  Ellipse e;
  e.a = rng.uniform(0.6, 1.0) * max_a * m;
  e.b = e.a * rng.uniform(0.55, 0.9);
  e.theta = rng.uniform(0, kPi);
  e.cx = rng.uniform(cx_lo, cx_hi) * w;
  e.cy = rng.uniform(0.4, 0.65) * h;
  return e;
}

std::string fmt2(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// One generated image with everything the CSV rows need.
struct Generated {
  int64_t h = 0, w = 0;
  Box box;
  std::vector<double> points;
  int64_t label = -1;
};

enum class Set { Lesion, Two, Blobs, Empty };
const char* set_name(Set s) {
  switch (s) {
    case Set::Lesion: return "lesion";
    case Set::Two: return "two";
    case Set::Blobs: return "blobs";
    case Set::Empty: return "empty";
  }
  return "?";
}

std::string rel_image(Set s, int64_t i) { return str_cat("../images/", set_name(s), "/", i, ".png"); }
std::string rel_mask(Set s, int64_t i) { return str_cat("../masks/", set_name(s), "/", i, ".png"); }

Generated generate_one(const fs::path& root, const PhantomOptions& opt, Set set, int64_t index) {
  Rng rng{mix(mix(opt.seed, uint64_t(set) + 1), uint64_t(index))};
  Generated g;
  g.h = rng.integer(opt.min_size, opt.max_size);
  g.w = rng.integer(opt.min_size, opt.max_size);
  Scene sc = fan_background(rng, g.h, g.w);
  Image mask(g.h, g.w, 1);
  switch (set) {
    case Set::Lesion: {
      Ellipse e = random_ellipse(rng, g.h, g.w, 0.35, 0.65, 0.2);
      draw_ellipse(sc, e, 0.3f, 1.7f, &mask, 1);
      int64_t x0 = g.w, y0 = g.h, x1 = -1, y1 = -1;  // tight box of the mask, exclusive ends
      for (int64_t y = 0; y < g.h; ++y)
        for (int64_t x = 0; x < g.w; ++x)
          if (mask.at(y, x))
            x0 = std::min(x0, x), x1 = std::max(x1, x + 1), y0 = std::min(y0, y), y1 = std::max(y1, y + 1);
      g.box = {double(x0), double(y0), double(x1), double(y1)};
      // Minor-axis end points, upper one first, rounded as written.
      double px = -std::sin(e.theta) * e.b, py = std::cos(e.theta) * e.b;
      double p[2][2] = {{e.cx + px, e.cy + py}, {e.cx - px, e.cy - py}};
      if (p[1][1] < p[0][1]) std::swap(p[0], p[1]);
      for (auto& q : p)
        for (double v : q) g.points.push_back(std::round(v * 100) / 100);
      break;
    }
    case Set::Two: {
      bool dark_left = rng.uniform(0, 1) < 0.5;
      Ellipse left = random_ellipse(rng, g.h, g.w, 0.27, 0.33, 0.12);
      Ellipse right = random_ellipse(rng, g.h, g.w, 0.67, 0.73, 0.12);
      draw_ellipse(sc, dark_left ? left : right, 0.3f, 1.0f, &mask, 1);
      draw_ellipse(sc, dark_left ? right : left, 2.0f, 1.0f, &mask, 2);
      break;
    }
    case Set::Blobs: {
      g.label = rng.integer(0, 2);
      std::vector<Ellipse> blobs;
      const double m = double(std::min(g.h, g.w));
      while (int64_t(blobs.size()) < g.label + 1) {
        Ellipse e;
        e.a = e.b = rng.uniform(0.05, 0.08) * m;
        e.theta = 0;
        e.cx = rng.uniform(0.25, 0.75) * g.w;
        e.cy = rng.uniform(0.35, 0.8) * g.h;
        bool apart = std::all_of(blobs.begin(), blobs.end(), [&](const Ellipse& o) {
          return std::hypot(o.cx - e.cx, o.cy - e.cy) > 2.5 * std::max(o.a, e.a);
        });
        if (apart) blobs.push_back(e);
      }
      for (const Ellipse& e : blobs) draw_ellipse(sc, e, 2.4f, 1.0f, nullptr, 0);
      break;
    }
    case Set::Empty: break;
  }
  write_png((root / "images" / set_name(set) / str_cat(index, ".png")).string(), render(sc, rng.key ^ 0x5eed));
  if (set == Set::Lesion || set == Set::Two)
    write_png((root / "masks" / set_name(set) / str_cat(index, ".png")).string(), mask);
  return g;
}

// Generates n images of a set in parallel (each image only depends on its
// index); the first failure is rethrown once every started image has ended.
std::vector<Generated> generate_set(const fs::path& root, const PhantomOptions& opt, Set set, int64_t n) {
  fs::create_directories(root / "images" / set_name(set));
  if (set == Set::Lesion || set == Set::Two) fs::create_directories(root / "masks" / set_name(set));
  std::vector<Generated> out(static_cast<size_t>(n));
  parallel_for_chunks(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[size_t(i)] = generate_one(root, opt, set, i);
  });
  return out;
}

// A CSV file, collected in memory and written all at once by finish()
// (AtomicFile: a failed write throws naming the file).
class CsvWriter {
 public:
  CsvWriter(fs::path path, const std::string& header) : path_(std::move(path)) { out_ << header << '\n'; }
  void row(const std::vector<std::string>& fields) {
    for (size_t i = 0; i < fields.size(); ++i) out_ << (i ? "," : "") << fields[i];
    out_ << '\n';
  }
  void finish() { nn::write_file_atomically(path_.string(), out_.str()); }

 private:
  fs::path path_;
  std::ostringstream out_;
};

}  // namespace

std::vector<PhantomRow> write_phantom_dataset(const std::string& root_dir, const PhantomOptions& opt) {
  SONO_CHECK(opt.images_per_task >= 1, "write_phantom_dataset", "images_per_task must be >= 1, got ",
             opt.images_per_task);
  SONO_CHECK(opt.min_size >= 32 && opt.min_size <= opt.max_size, "write_phantom_dataset",
             "need 32 <= min_size <= max_size, got ", opt.min_size, " and ", opt.max_size);
  const fs::path root(root_dir);
  fs::create_directories(root / "csv_files");
  const int64_t n = opt.images_per_task;
  const std::vector<Generated> lesion = generate_set(root, opt, Set::Lesion, n);
  const std::vector<Generated> two = generate_set(root, opt, Set::Two, n);
  const std::vector<Generated> blobs = generate_set(root, opt, Set::Blobs, n);
  const std::vector<Generated> empty = generate_set(root, opt, Set::Empty, opt.det_rows_without_box);

  std::vector<PhantomRow> rows;
  auto base = [&](const char* id, TaskType type, int64_t classes, Set set, int64_t i, const Generated& g) {
    PhantomRow r;
    r.task_id = id;
    r.type = type;
    r.num_classes = classes;
    r.image_path = rel_image(set, i);
    r.height = g.h;
    r.width = g.w;
    return r;
  };
  const std::string tail_header = "task_id,task_name,num_classes";
  auto tail = [](const PhantomRow& r) {
    return std::vector<std::string>{r.task_id, task_type_name(r.type), std::to_string(r.num_classes)};
  };
  auto join = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  {  // file-name order: cls, det, reg, seg, seg3
    CsvWriter w(root / "csv_files" / "phantom_cls.csv", "image_path,mask," + tail_header);
    for (int64_t i = 0; i < n; ++i) {
      PhantomRow r = base("phantom_cls", TaskType::Classification, 3, Set::Blobs, i, blobs[size_t(i)]);
      r.label = blobs[size_t(i)].label;
      w.row(join({r.image_path, std::to_string(r.label)}, tail(r)));
      rows.push_back(r);
    }
    w.finish();
  }
  {
    CsvWriter w(root / "csv_files" / "phantom_det.csv", "image_path,x_min,y_min,x_max,y_max," + tail_header);
    for (int64_t i = 0; i < n; ++i) {
      PhantomRow r = base("phantom_det", TaskType::Detection, 1, Set::Lesion, i, lesion[size_t(i)]);
      r.has_box = true;
      r.box = lesion[size_t(i)].box;
      std::vector<std::string> fields{r.image_path};
      for (double v : {r.box.x_min, r.box.y_min, r.box.x_max, r.box.y_max})
        fields.push_back(std::to_string(int64_t(v)));
      w.row(join(fields, tail(r)));
      rows.push_back(r);
    }
    for (int64_t i = 0; i < opt.det_rows_without_box; ++i) {
      PhantomRow r = base("phantom_det", TaskType::Detection, 1, Set::Empty, i, empty[size_t(i)]);
      w.row(join({r.image_path, "", "", "", ""}, tail(r)));
      rows.push_back(r);
    }
    w.finish();
  }
  {
    CsvWriter w(root / "csv_files" / "phantom_reg.csv", "image_path,point_1_xy,point_2_xy," + tail_header);
    for (int64_t i = 0; i < n; ++i) {
      PhantomRow r = base("phantom_reg", TaskType::Regression, 2, Set::Lesion, i, lesion[size_t(i)]);
      r.points = lesion[size_t(i)].points;
      w.row(join({r.image_path, "\"[" + fmt2(r.points[0]) + ", " + fmt2(r.points[1]) + "]\"",
                  "\"[" + fmt2(r.points[2]) + ", " + fmt2(r.points[3]) + "]\""},
                 tail(r)));
      rows.push_back(r);
    }
    w.finish();
  }
  struct SegTask {
    const char* file;
    const char* id;
    int64_t classes;
    Set set;
    const std::vector<Generated>* gen;
  };
  for (const SegTask& t : {SegTask{"phantom_seg.csv", "phantom_seg", 2, Set::Lesion, &lesion},
                           SegTask{"phantom_seg3.csv", "phantom_seg3", 3, Set::Two, &two}}) {
    CsvWriter w(root / "csv_files" / t.file, "image_path,mask_path," + tail_header);
    for (int64_t i = 0; i < n; ++i) {
      PhantomRow r = base(t.id, TaskType::Segmentation, t.classes, t.set, i, (*t.gen)[size_t(i)]);
      r.mask_path = rel_mask(t.set, i);
      w.row(join({r.image_path, r.mask_path}, tail(r)));
      rows.push_back(r);
    }
    w.finish();
  }
  return rows;
}

}  // namespace sono::data
