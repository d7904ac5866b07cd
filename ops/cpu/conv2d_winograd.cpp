// Winograd F(4x4, 3x3) for dense, stride-1, undilated 3x3 f32 convolutions
// (Lavin & Gray 2016, interpolation points 0, 1, -1, 2, -2, inf). Every 4x4
// output tile is A^T [(G g G^T) . (B^T d B)] A for its 6x6 input window d, so
// per tile and channel pair 36 multiply-adds replace 144. In the transformed
// domain the channel sums are 36 independent GEMMs, one per tile position xi:
//   M[xi] [cout, tiles] = U[xi] [cout, cin] @ V[xi] [cin, tiles].
// The tiles are processed in chunks of whole tile rows (a count fixed by the
// shape) so that V and M stay a few MiB. Each chunk is one OpenMP region:
// input transform split over channels, the 36 GEMMs over xi (each one
// single-threaded BLAS call), output transform over output channels. Every
// value is computed by one thread in a fixed order, so the result is the same
// at any thread count.
// The backward of the input is the same correlation of gy with the weights
// transposed over channels and flipped in space, padded by 2 - pad; the
// weight gradient is the forward's adjoint in the transformed domain (36
// GEMMs over the tiles, weight_gradient).
// Accuracy: the transforms multiply by up to 8 and add ~20 terms, so the
// error is larger than a direct sum's; measured against f64 in
// tests/ops/test_conv2d_winograd.cpp (tol::kWinogradF32, kWinogradGradWeightF32).
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu/conv2d_paths.h"
#include "ops/cpu/gemm.h"

namespace sono::cpu::conv {

namespace {

constexpr int64_t kTile = 4;   // output tile side
constexpr int64_t kAlpha = 6;  // input tile side: kTile + 3 - 1
constexpr int64_t kXi = 36;    // kAlpha^2 transformed positions
constexpr int64_t kLanes = 8;  // tiles per vector
// Tiles per chunk (rounded to whole tile rows): V and M of a 256-channel chunk
// are 36 * 256 * 128 * 4 B = 4.5 MiB each, and the GEMMs' N = 128 keeps
// OpenBLAS near its full rate.
constexpr int64_t kChunkTiles = 128;

typedef float vec __attribute__((vector_size(32)));

vec load(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store(float* p, const vec& v) { std::memcpy(p, &v, sizeof v); }

// One correlation: x [n, c, h, w] padded by (pt, pl) (negative crops) read by
// the transformed weights into y [n, k, ho, wo] (+ bias[k] when not null).
struct Problem {
  int64_t n, c, h, w, k, ho, wo, pt, pl;
  int64_t tiles_h() const { return ceil_div(ho, kTile); }
  int64_t tiles_w() const { return ceil_div(wo, kTile); }
};

// G applied to a column of three (the weight transform's rows), in double.
typedef double dvec __attribute__((vector_size(64)));  // 8 lanes, like vec

inline void kernel_1d(const dvec g[3], dvec r[6]) {
  const dvec a = g[0] + g[2];
  r[0] = g[0] / 4;
  r[1] = -(a + g[1]) / 6;
  r[2] = -(a - g[1]) / 6;
  r[3] = g[0] / 24 + g[1] / 12 + g[2] / 6;
  r[4] = g[0] / 24 - g[1] / 12 + g[2] / 6;
  r[5] = g[2];
}

// U = G g G^T of kernels [first, first + count) (count <= 8) of a batch whose
// tap (ki, kj) of kernel i is at g[i * is + ki * rs + kj * cs] (a flipped
// kernel is read with negative rs, cs), computed in double and rounded once
// to u[xi * stride + i].
void transform_kernels(const float* g, int64_t count, int64_t is, int64_t rs, int64_t cs, float* u, int64_t stride) {
  dvec in[3][3];
  for (int64_t ki = 0; ki < 3; ++ki)
    for (int64_t kj = 0; kj < 3; ++kj)
      for (int64_t i = 0; i < kLanes; ++i) in[ki][kj][i] = i < count ? double(g[i * is + ki * rs + kj * cs]) : 0.0;
  dvec t[kAlpha][3];  // G g
  for (int64_t kj = 0; kj < 3; ++kj) {
    const dvec col[3] = {in[0][kj], in[1][kj], in[2][kj]};
    dvec r[6];
    kernel_1d(col, r);
    for (int64_t i = 0; i < kAlpha; ++i) t[i][kj] = r[i];
  }
  for (int64_t i = 0; i < kAlpha; ++i) {
    dvec r[6];
    kernel_1d(t[i], r);
    for (int64_t j = 0; j < kAlpha; ++j) {
      float* dst = u + (i * kAlpha + j) * stride;
      for (int64_t l = 0; l < count; ++l) dst[l] = float(r[j][l]);
    }
  }
}

// B^T applied to a column of six: rows of the input transform.
inline void input_1d(const vec d[6], vec r[6]) {
  r[0] = 4.f * d[0] - 5.f * d[2] + d[4];
  r[1] = -4.f * (d[1] + d[2]) + d[3] + d[4];
  r[2] = 4.f * (d[1] - d[2]) - d[3] + d[4];
  r[3] = 2.f * (d[3] - d[1]) - d[2] + d[4];
  r[4] = 2.f * (d[1] - d[3]) - d[2] + d[4];
  r[5] = 4.f * d[1] - 5.f * d[3] + d[5];
}

// A^T applied to a column of six: four outputs.
inline void output_1d(const vec m[6], vec o[4]) {
  const vec a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
  o[0] = m[0] + a + c;
  o[1] = b + 2.f * d;
  o[2] = a + 4.f * c;
  o[3] = b + 8.f * d + m[5];
}

// Per-thread scratch that survives across calls (no allocation per conv).
std::vector<float>& thread_scratch(int slot) {
  thread_local std::vector<float> buf[2];
  return buf[slot];
}

float* shared_buffer(int64_t elems, int slot) {
  thread_local std::unique_ptr<float[]> buf[3];
  thread_local int64_t capacity[3] = {0, 0, 0};
  if (elems > capacity[slot]) {
    buf[slot].reset();
    buf[slot].reset(new float[size_t(elems)]);
    capacity[slot] = elems;
  }
  return buf[slot].get();
}

// Rows [row0, row0 + rows) of a plane [h, w], zero outside it, split by
// column phase: ph[(i * 4 + k) * plen + jj] = row row0 + i, column
// jj * 4 + k + col0. Lane j of a vector load at element j0 + e is then tile
// j0 + j's column 4 * e + k.
void split_rows(const float* plane, int64_t h, int64_t w, int64_t row0, int64_t rows, int64_t col0, int64_t plen,
                float* ph) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t ih = row0 + i;
    float* row = ph + i * kTile * plen;
    if (ih < 0 || ih >= h) {
      std::fill(row, row + kTile * plen, 0.f);
      continue;
    }
    const float* src = plane + ih * w;
    for (int64_t jj = 0; jj < plen; ++jj)
      for (int64_t k = 0; k < kTile; ++k) {
        const int64_t iw = jj * kTile + k + col0;
        row[k * plen + jj] = iw >= 0 && iw < w ? src[iw] : 0.f;
      }
  }
}

// The first `lanes` lanes of v to dst.
inline void store_lanes(float* dst, const vec& v, int64_t lanes) {
  if (lanes == kLanes) {
    store(dst, v);
  } else {
    float tmp[kLanes];
    store(tmp, v);
    std::copy(tmp, tmp + lanes, dst);
  }
}

// A applied to a column of four (the transpose of output_1d): the weight
// gradient's transform of a 4x4 tile of gy.
inline void grad_1d(const vec z[4], vec r[6]) {
  const vec a = z[0] + z[2], b = z[1] + z[3], c = z[0] + 4.f * z[2], d = 2.f * z[1] + 8.f * z[3];
  r[0] = z[0];
  r[1] = a + b;
  r[2] = a - b;
  r[3] = c + d;
  r[4] = c - d;
  r[5] = z[3];
}

// out[xi][ch][t] = T w T^T of every tile's N x N window w, for channel ch of
// planes [n, nc, h, w] padded by (pt, pl) and the chunk's tile rows [r0, r1)
// (global tile row r = sample * tiles_h + tile row). T (6 x N) is applied to
// a column by T1d. The input transform (B^T, N = 6) and the weight gradient's
// (A, N = 4) differ only in these.
template <int64_t N, void (*T1d)(const vec[N], vec[kAlpha])>
void tile_transform(const Problem& p, const float* planes, int64_t nc, int64_t h, int64_t w, int64_t pt, int64_t pl,
                    int64_t ch, int64_t r0, int64_t r1, int64_t ld, float* out) {
  const int64_t th = p.tiles_h(), tw = p.tiles_w();
  // A 6-wide window also reads the next tile's first two columns: one more per phase row.
  const int64_t groups = ceil_div(tw, kLanes), plen = groups * kLanes + (N > kTile ? 1 : 0);
  std::vector<float>& ph = thread_scratch(0);
  ph.resize(size_t(N * kTile * plen));
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t s = r / th, ty = r % th;
    split_rows(planes + (s * nc + ch) * h * w, h, w, ty * kTile - pt, N, -pl, plen, ph.data());
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t j0 = g * kLanes;
      vec t[kAlpha][N];  // T w, by rows
      for (int64_t k = 0; k < N; ++k) {
        vec col[N], res[kAlpha];
        for (int64_t i = 0; i < N; ++i) col[i] = load(ph.data() + (i * kTile + k % kTile) * plen + j0 + k / kTile);
        T1d(col, res);
        for (int64_t i = 0; i < kAlpha; ++i) t[i][k] = res[i];
      }
      const int64_t lanes = std::min(kLanes, tw - j0);
      float* dst = out + (r - r0) * tw + j0;
      for (int64_t i = 0; i < kAlpha; ++i) {
        vec res[kAlpha];
        T1d(t[i], res);
        for (int64_t j = 0; j < kAlpha; ++j) store_lanes(dst + (i * kAlpha + j) * nc * ld, res[j], lanes);
      }
    }
  }
}

// V[xi][ch][t] for channel ch of the chunk's tile rows [r0, r1): B^T d B of
// each tile's 6x6 window.
void input_transform(const Problem& p, const float* x, int64_t ch, int64_t r0, int64_t r1, int64_t ld, float* v) {
  tile_transform<kAlpha, input_1d>(p, x, p.c, p.h, p.w, p.pt, p.pl, ch, r0, r1, ld, v);
}

// Z[xi][co][t] = A gy_t A^T of output channel co's 4x4 tiles of gy (zero
// beyond [ho, wo)), the chunk's tile rows [r0, r1).
void grad_transform(const Problem& p, const float* gy, int64_t co, int64_t r0, int64_t r1, int64_t ld, float* z) {
  tile_transform<kTile, grad_1d>(p, gy, p.k, p.ho, p.wo, 0, 0, co, r0, r1, ld, z);
}

// y[s][co] of the chunk's tile rows from M[xi][co][t] (+ bias), keeping only
// the outputs inside [ho, wo).
void output_transform(const Problem& p, const float* m, int64_t co, int64_t r0, int64_t r1, int64_t ld,
                      const float* bias, float* y) {
  const int64_t th = p.tiles_h(), tw = p.tiles_w();
  const int64_t groups = ceil_div(tw, kLanes), plen = groups * kLanes;
  std::vector<float>& ph = thread_scratch(0);
  ph.resize(size_t(kTile * kTile * plen));
  std::vector<float>& in = thread_scratch(1);
  in.resize(size_t(kLanes));
  const float b = bias ? bias[co] : 0.f;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t s = r / th, ty = r % th;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t j0 = g * kLanes, lanes = std::min(kLanes, tw - j0);
      const float* src = m + (r - r0) * tw + j0;
      vec t[4][kAlpha];  // A^T M, by rows
      for (int64_t k = 0; k < kAlpha; ++k) {
        vec col[6], res[4];
        for (int64_t i = 0; i < kAlpha; ++i) {
          const float* q = src + (i * kAlpha + k) * p.k * ld;
          if (lanes == kLanes) {
            col[i] = load(q);
          } else {
            std::fill(in.begin(), in.end(), 0.f);
            std::copy(q, q + lanes, in.data());
            col[i] = load(in.data());
          }
        }
        output_1d(col, res);
        for (int64_t i = 0; i < 4; ++i) t[i][k] = res[i];
      }
      for (int64_t i = 0; i < kTile; ++i) {
        vec res[4];
        output_1d(t[i], res);
        for (int64_t j = 0; j < kTile; ++j) store(ph.data() + (i * kTile + j) * plen + j0, res[j] + b);
      }
    }
    float* yc = y + (s * p.k + co) * p.ho * p.wo;
    for (int64_t i = 0; i < kTile; ++i) {
      const int64_t oh = ty * kTile + i;
      if (oh >= p.ho) break;
      float* dst = yc + oh * p.wo;
      for (int64_t ow = 0; ow < p.wo; ++ow) dst[ow] = ph[size_t((i * kTile + ow % kTile) * plen + ow / kTile)];
    }
  }
}

// y = correlate(x, u) (+ bias) with u [36][k][c] already transformed.
void correlate(const Problem& p, const float* x, const float* u, const float* bias, float* y) {
  const int64_t tw = p.tiles_w(), rows_total = p.n * p.tiles_h();
  const int64_t rows = std::max<int64_t>(1, kChunkTiles / tw);
  float* v = shared_buffer(kXi * p.c * rows * tw, 1);
  float* m = shared_buffer(kXi * p.k * rows * tw, 2);
  for (int64_t r0 = 0; r0 < rows_total; r0 += rows) {
    const int64_t r1 = std::min(r0 + rows, rows_total), ld = (r1 - r0) * tw;
    parallel_for(p.c, true, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) input_transform(p, x, ch, r0, r1, ld, v + ch * ld);
    });
    // Each xi's GEMM is one single-threaded BLAS call (cpu::gemm inside a job).
    parallel_for_chunks(kXi, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi)
        gemm<float>(false, false, p.k, ld, p.c, 1.f, u + xi * p.k * p.c, p.c, v + xi * p.c * ld, ld, 0.f,
                    m + xi * p.k * ld, ld);
    });
    parallel_for(p.k, true, [&](int64_t k0, int64_t k1) {
      for (int64_t co = k0; co < k1; ++co) output_transform(p, m + co * ld, co, r0, r1, ld, bias, y);
    });
  }
}

// gw[k][c] = G^T (sum over tiles of Z[xi][k][t] V[xi][c][t]) G: the exact
// adjoint of the forward's y = A^T (U . V) A with respect to U, pulled back
// through U = G g G^T. Per xi one GEMM over the tiles, summed over the chunks
// in a fixed order.
void weight_gradient(const Problem& p, const float* x, const float* gy, float* gw) {
  const int64_t tw = p.tiles_w(), rows_total = p.n * p.tiles_h(), pairs = p.k * p.c;
  const int64_t rows = std::max<int64_t>(1, kChunkTiles / tw);
  float* v = shared_buffer(kXi * p.c * rows * tw, 1);
  float* z = shared_buffer(kXi * p.k * rows * tw, 2);
  float* m = shared_buffer(kXi * pairs, 0);
  for (int64_t r0 = 0; r0 < rows_total; r0 += rows) {
    const int64_t r1 = std::min(r0 + rows, rows_total), ld = (r1 - r0) * tw;
    parallel_for(p.c, true, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) input_transform(p, x, ch, r0, r1, ld, v + ch * ld);
    });
    parallel_for(p.k, true, [&](int64_t k0, int64_t k1) {
      for (int64_t co = k0; co < k1; ++co) grad_transform(p, gy, co, r0, r1, ld, z + co * ld);
    });
    parallel_for_chunks(kXi, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi)
        gemm<float>(false, true, p.k, p.c, ld, 1.f, z + xi * p.k * ld, ld, v + xi * p.c * ld, ld, r0 > 0 ? 1.f : 0.f,
                    m + xi * pairs, p.c);
    });
  }
  // G^T m G, 6x6 -> 3x3, in double: rows of G^T are the columns of G.
  static const double G[kAlpha][3] = {{1.0 / 4, 0, 0},
                                      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                      {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                      {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                      {0, 0, 1}};
  parallel_for(pairs, pairs >= 4096, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      double t[3][kAlpha];
      for (int64_t l = 0; l < 3; ++l)
        for (int64_t j = 0; j < kAlpha; ++j) {
          double acc = 0;
          for (int64_t i = 0; i < kAlpha; ++i) acc += G[i][l] * double(m[(i * kAlpha + j) * pairs + q]);
          t[l][j] = acc;
        }
      for (int64_t l = 0; l < 3; ++l)
        for (int64_t e = 0; e < 3; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < kAlpha; ++j) acc += t[l][j] * G[j][e];
          gw[q * 9 + l * 3 + e] = float(acc);
        }
    }
  });
}

}  // namespace

bool winograd_enabled() {
  // On by default; SONO_CPU_WINOGRAD=0 turns it off (im2col everywhere), for
  // comparisons. The end-to-end training test was judged over seeds and
  // thread counts with it on and off (tests/train/test_end_to_end.cpp).
  static const bool on = [] {
    const char* e = std::getenv("SONO_CPU_WINOGRAD");
    return e == nullptr || std::string(e) != "0";
  }();
  return on;
}

bool winograd_fits(const Geometry& g, bool backward) {
  if (g.groups != 1 || g.kh != 3 || g.kw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1) return false;
  // The weight transform (36 x cin x cout values) is paid once per call, so a
  // few tiles do not repay it. Measured on the 2-core EPYC, one thread, CPU
  // time, 256->128 and 128->128 at batch 2 (conv2d_path_{fwd,bwd}/cpu/*/
  // {gemm,winograd}), Winograd vs im2col:
  //   forward:  8 tiles (8x8) 2.0 vs 1.1 ms; 32 tiles (16x16) 3.3 vs 3.8 and
  //             1.6 vs 1.8; 128 tiles (32x32) 7.2 vs 15.1; 512 (64x64) 30 vs 69.
  //   backward (input and weight gradients): 8 tiles 6.9 vs 2.2 ms; 32 tiles
  //             10.1 vs 9.3 and 4.5 vs 3.8; 128 tiles 15.7 vs 31.5 and 9.0 vs
  //             17.2; 512 tiles 55 vs 138 and 32 vs 63.
  // Few channels leave the transforms' cost unpaid by the thin GEMMs.
  const int64_t tiles = g.n * ceil_div(g.ho, kTile) * ceil_div(g.wo, kTile);
  return g.cin >= 32 && g.cout >= 32 && tiles >= (backward ? 128 : 32);
}

bool winograd_applies(const Geometry& g, bool backward) { return winograd_enabled() && winograd_fits(g, backward); }

// Kernels are transformed 8 at a time, lane l being output/input channel
// pair (k, c) = the l-th of a run that is contiguous in u.
void winograd_forward(const Geometry& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t pairs = g.cout * g.cin;
  float* u = shared_buffer(kXi * pairs, 0);
  const int64_t runs = ceil_div(pairs, kLanes);
  parallel_for(runs, pairs >= 4096, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      transform_kernels(w + r * kLanes * 9, std::min(kLanes, pairs - r * kLanes), 9, 3, 1, u + r * kLanes, pairs);
  });
  correlate({g.n, g.cin, g.h, g.w, g.cout, g.ho, g.wo, g.pt, g.pl}, x, u, bias, y);
}

void winograd_backward_input(const Geometry& g, const float* w, const float* gy, float* gx) {
  // u[xi][c][k]: the kernel w[k][c] flipped (read from its last tap backwards);
  // lanes run over k for one c.
  const int64_t pairs = g.cout * g.cin, runs = ceil_div(g.cout, kLanes);
  float* u = shared_buffer(kXi * pairs, 0);
  parallel_for(g.cin * runs, pairs >= 4096, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c = q / runs, k0 = q % runs * kLanes;
      transform_kernels(w + (k0 * g.cin + c) * 9 + 8, std::min(kLanes, g.cout - k0), g.cin * 9, -3, -1,
                        u + c * g.cout + k0, pairs);
    }
  });
  correlate({g.n, g.cout, g.ho, g.wo, g.cin, g.h, g.w, 2 - g.pt, 2 - g.pl}, gy, u, nullptr, gx);
}

void winograd_backward_weight(const Geometry& g, const float* x, const float* gy, float* gw) {
  weight_gradient({g.n, g.cin, g.h, g.w, g.cout, g.ho, g.wo, g.pt, g.pl}, x, gy, gw);
}

}  // namespace sono::cpu::conv
