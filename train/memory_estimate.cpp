#include "train/memory_estimate.h"

#include <algorithm>

#include "core/error.h"
#include "layers/fusion.h"

namespace sono {

namespace {

constexpr size_t kF32 = 4, kI64 = 8;

// Per-sample float counts of one forward pass: what stays saved until
// backward, and the largest single tensor (its gradient and the gradient of
// its input are the biggest pair alive at one time in backward).
struct Walk {
  int64_t saved = 0;
  int64_t largest = 0;
  void keep(int64_t elements, int64_t times = 1) {
    saved += elements * times;
    largest = std::max(largest, elements);
  }
  void pass(int64_t elements) { largest = std::max(largest, elements); }  // freed before backward
};

// The encoder's stem and MBConv blocks (layers/mbconv.cpp's forward, train mode).
void walk_encoder(const model::EfficientNetEncoder& enc, int64_t size, Walk& w) {
  auto hw = enc.conv_stem().output_size(size, size);
  const int64_t stem = enc.plan().stem_channels * hw.first * hw.second;
  // Per conv -> BN -> SiLU: the conv out (BN's input) and the SiLU out (next
  // conv's input), plus BN's output (SiLU's input) unless the fused
  // batch_norm_silu recomputes it in backward (layers/fusion.h).
  const int64_t bn_silu = nn::fused_ops_enabled() ? 2 : 3;
  w.keep(stem, bn_silu);
  for (size_t i = 0; i < enc.blocks().size(); ++i) {
    const nn::MBConvBlock& b = enc.blocks()[i];
    const nn::MBConvConfig& c = b.config();
    const int64_t e = b.expanded_channels();
    if (c.expand_ratio != 1) w.keep(e * hw.first * hw.second, bn_silu);
    hw = b.depthwise_conv().output_size(hw.first, hw.second);
    const int64_t plane = hw.first * hw.second;
    w.keep(e * plane, bn_silu);                            // depthwise conv, BN, SiLU
    if (b.squeeze_channels() > 0) w.keep(e * plane);       // x * gate (the project conv's input)
    w.keep(c.out_channels * plane);                        // project conv out (BN's input)
    w.keep(c.out_channels * plane);                        // the block's output (the next conv's input)
    if (b.has_residual()) w.pass(c.out_channels * plane);  // BN out, drop-connect out: not saved
  }
}

// The FPN decoder (model/fpn_decoder.cpp) on the encoder's features.
void walk_decoder(const model::FpnDecoder& dec, const std::array<std::pair<int64_t, int64_t>, 6>& fs, Walk& w) {
  const int64_t P = dec.config().pyramid_channels, S = dec.config().segmentation_channels;
  auto plane = [&](int f) { return fs[size_t(f)].first * fs[size_t(f)].second; };
  w.keep(P * plane(5));  // p5
  for (int f = 4; f >= 2; --f) {
    w.pass(P * plane(f));  // the upsampled level above and the skip conv: summed, not saved
    w.keep(P * plane(f));  // the sum (the segmentation block's input)
  }
  // Segmentation block of level i: max(1, n) units of conv3x3 -> GN -> ReLU
  // (conv out and GN out saved), each but an n = 0 level followed by a x2
  // bilinear upsample (its output saved by the next unit's conv).
  const int n_up[4] = {3, 2, 1, 0};
  for (int i = 0; i < 4; ++i) {
    int64_t h = fs[size_t(5 - i)].first, wd = fs[size_t(5 - i)].second;
    const int units = std::max(1, n_up[i]);
    for (int u = 0; u < units; ++u) {
      w.keep(S * h * wd, 2);
      if (n_up[i] > 0) {
        h *= 2;
        wd *= 2;
        if (u + 1 < units) w.keep(S * h * wd);
        else w.pass(S * h * wd);  // into the sum of the levels
      }
    }
  }
  w.keep(S * plane(2));  // dropout2d's output (the head's input)
}

// The head and loss of one task at the decoder's output (out x out) or on
// the last encoder feature, and the batch's target bytes per sample.
void walk_head(const model::TaskSpec& t, int64_t size, int64_t out_plane, int64_t decoder_channels, Walk& w,
               size_t& target_bytes) {
  switch (t.type) {
    case TaskType::Segmentation:
      w.pass(t.num_classes * out_plane);       // the 1x1 conv's output, upsampled (not saved)
      w.keep(t.num_classes * size * size, 2);  // the logits and the loss's softmax
      target_bytes = kI64 * size_t(size * size);
      break;
    case TaskType::Detection:
      w.keep(decoder_channels * out_plane, 6);  // conv, BN, ReLU outputs, twice
      w.keep(5 * out_plane, 2);                 // the 1x1 conv's output and the sigmoid/concat
      target_bytes = kF32 * 4;
      break;
    case TaskType::Classification: target_bytes = kI64; break;
    case TaskType::Regression: target_bytes = kF32 * size_t(2 * t.num_classes); break;
  }
}

}  // namespace

MemoryEstimate estimate_training_memory(const model::MultiTaskModel& m, int64_t size, int64_t batch, Device device) {
  SONO_CHECK(size > 0 && size % 32 == 0 && batch > 0, "memory estimate", "size ", size, " and batch ", batch,
             ": the size must be a positive multiple of 32 and the batch positive");
  MemoryEstimate r;
  r.image_size = size;
  r.batch = batch;
  r.parameters = m.num_parameters();
  int64_t buffer_elements = 0;
  for (const auto& kv : m.named_buffers()) buffer_elements += kv.second.numel();
  // Weights, AdamW's exp_avg and exp_avg_sq, BN running statistics. The
  // gradients are not in it: zero_grad frees them and backward makes them anew.
  r.state_bytes = kF32 * size_t(3 * r.parameters + buffer_elements);
  r.device_reserve = device.is_cuda() ? kCudaReserve : 0;

  const model::EfficientNetEncoder& enc = m.encoder();
  // _conv_head and _bn1 never run, so never get a gradient.
  const int64_t encoder_params =
      enc.conv_stem().num_parameters() + enc.bn_stem().num_parameters() + enc.blocks().num_parameters();
  Walk encoder;
  walk_encoder(enc, size, encoder);
  const auto fs = enc.macs(size, size).feature_sizes;
  Walk decoder = encoder;
  walk_decoder(m.decoder(), fs, decoder);
  const int64_t out_plane = fs[2].first * fs[2].second;
  const size_t b = size_t(batch);
  for (const model::TaskSpec& t : m.tasks().tasks()) {
    const model::TaskHead& head = m.heads().at(t.id);
    Walk w = head.uses_decoder() ? decoder : encoder;
    size_t target_bytes = 0;
    walk_head(t, size, out_plane, m.decoder().out_channels(), w, target_bytes);
    TaskMemory tm;
    tm.id = t.id;
    tm.type = t.type;
    tm.activation_bytes = kF32 * b * size_t(w.saved);
    tm.backward_bytes = kF32 * b * size_t(2 * w.largest);
    tm.gradient_bytes = kF32 * size_t(encoder_params + (head.uses_decoder() ? m.decoder().num_parameters() : 0) +
                                      head.num_parameters());
    tm.batch_bytes = b * (kF32 * size_t(3 * size * size) + target_bytes);
    // The two candidate peaks: backward's start (every saved activation and
    // the first gradient pair) and its end (every parameter's gradient, the
    // activations released). In between, the late layers' gradients (most of
    // the parameters) appear while the early layers' activations (most of
    // the activation memory) are still held, so the larger bounds it well.
    tm.peak_bytes =
        r.state_bytes + tm.batch_bytes + std::max(tm.activation_bytes + tm.backward_bytes, tm.gradient_bytes);
    if (tm.peak_bytes > r.peak_bytes || r.peak_task.empty()) {
      r.peak_bytes = tm.peak_bytes;
      r.peak_task = t.id;
    }
    r.tasks.push_back(tm);
  }
  r.peak_bytes += r.device_reserve;
  return r;
}

}  // namespace sono
