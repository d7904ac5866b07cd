#include "model/counts.h"

#include <cstdarg>
#include <cstdio>

namespace sono::model {

ParameterCounts count_parameters(const MultiTaskModel& m) {
  ParameterCounts c;
  const EfficientNetEncoder& enc = m.encoder();
  c.encoder = enc.num_parameters();
  c.encoder_stem = enc.conv_stem().num_parameters() + enc.bn_stem().num_parameters();
  c.encoder_blocks = enc.blocks().num_parameters();
  c.encoder_unused_head = enc.conv_head().num_parameters() + enc.bn_head().num_parameters();
  const FpnDecoder& dec = m.decoder();
  c.decoder = dec.num_parameters();
  c.decoder_p5 = dec.p5().num_parameters();
  c.decoder_p4 = dec.p4().num_parameters();
  c.decoder_p3 = dec.p3().num_parameters();
  c.decoder_p2 = dec.p2().num_parameters();
  c.decoder_seg_blocks = dec.seg_blocks().num_parameters();
  for (const auto& kv : m.heads().items()) c.per_head.emplace_back(kv.first, kv.second->num_parameters());
  c.heads = m.heads().num_parameters();
  c.total = m.num_parameters();
  return c;
}

ModelMacs count_macs(const MultiTaskModel& m, int64_t height, int64_t width) {
  SONO_CHECK(height > 0 && width > 0, "count_macs", "invalid input size ", height, "x", width);
  ModelMacs r;
  r.height = height;
  r.width = width;
  r.encoder = m.encoder().macs(height, width);
  r.decoder = m.decoder().macs(r.encoder.feature_sizes);
  const auto& last = r.encoder.feature_sizes[5];
  for (const auto& kv : m.heads().items()) {
    const TaskHead& h = *kv.second;
    TaskMacs t{kv.first, h.spec().type, 0, 0};
    if (h.uses_decoder()) {
      t.head = h.macs(r.decoder.out_h, r.decoder.out_w);
      t.total = r.encoder.total() + r.decoder.total() + t.head;
    } else {
      t.head = h.macs(last.first, last.second);
      t.total = r.encoder.total() + t.head;
    }
    r.tasks.push_back(t);
  }
  return r;
}

namespace {
std::string row(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string row(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return std::string(buf) + "\n";
}
double mega(int64_t v) { return double(v) / 1e6; }
}  // namespace

std::string model_info_table(const MultiTaskModel& m, int64_t height, int64_t width) {
  const ParameterCounts p = count_parameters(m);
  const ModelMacs macs = count_macs(m, height, width);
  const auto& e = macs.encoder;
  std::string s;
  s += row("model: %s + FPN decoder + %zu task heads", m.config().encoder.c_str(), m.tasks().size());
  s += row("\n%-44s %14s", "parameters", "count");
  s += row("%-44s %14lld", "total", (long long)p.total);
  s += row("%-44s %14lld", "encoder (state dict)", (long long)p.encoder);
  s += row("%-44s %14lld", "  used in forward (stem + blocks)", (long long)p.encoder_used());
  s += row("%-44s %14lld", "    stem conv + BN", (long long)p.encoder_stem);
  s += row("%-44s %14lld", "    MBConv blocks", (long long)p.encoder_blocks);
  s += row("%-44s %14lld", "  unused _conv_head + _bn1", (long long)p.encoder_unused_head);
  s += row("%-44s %14lld", "decoder", (long long)p.decoder);
  s += row("%-44s %14lld", "  p5", (long long)p.decoder_p5);
  s += row("%-44s %14lld", "  p4", (long long)p.decoder_p4);
  s += row("%-44s %14lld", "  p3", (long long)p.decoder_p3);
  s += row("%-44s %14lld", "  p2", (long long)p.decoder_p2);
  s += row("%-44s %14lld", "  seg_blocks", (long long)p.decoder_seg_blocks);
  s += row("%-44s %14lld", "heads", (long long)p.heads);
  for (const auto& kv : p.per_head) {
    const TaskSpec& t = m.tasks().at(kv.first);
    std::string label = "  " + kv.first + " (" + task_type_name(t.type) + " " + std::to_string(t.num_classes) + ")";
    s += row("%-44s %14lld", label.c_str(), (long long)kv.second);
  }
  s += row("\n%-44s %14s   (one %lldx%lld image, conv/linear only)", "multiply-accumulates", "M", (long long)height,
           (long long)width);
  s += row("%-44s %14.1f", "encoder", mega(e.total()));
  s += row("%-44s %14.1f", "  stem 3x3", mega(e.stem));
  s += row("%-44s %14.1f", "  1x1 convs (expand + project + SE)", mega(e.pointwise()));
  s += row("%-44s %14.1f", "    of which SE", mega(e.se));
  s += row("%-44s %14.1f", "  depthwise", mega(e.depthwise));
  s += row("%-44s %14.1f", "decoder", mega(macs.decoder.total()));
  s += row("%-44s %14.1f", "  lateral 1x1", mega(macs.decoder.lateral));
  s += row("%-44s %14.1f", "  segmentation-block 3x3", mega(macs.decoder.seg3x3));
  s += row("\n%-44s %14s %12s", "per task (encoder [+ decoder] + head)", "head M", "total M");
  for (const auto& t : macs.tasks) {
    std::string label = "  " + t.id + " (" + task_type_name(t.type) + ")";
    s += row("%-44s %14.4f %12.1f", label.c_str(), mega(t.head), mega(t.total));
  }
  return s;
}

}  // namespace sono::model
