#include "model/key_maps.h"

#include <map>
#include <set>

#include "core/error.h"

namespace sono::nn {

namespace {

using Tokens = std::vector<std::string>;

Tokens split(const std::string& key) {
  Tokens t(1);
  for (char c : key) {
    if (c == '.') t.emplace_back();
    else t.back() += c;
  }
  return t;
}

std::string join(const Tokens& t, size_t from) {
  std::string s;
  for (size_t k = from; k < t.size(); ++k) s += (k > from ? "." : "") + t[k];
  return s;
}

// A small non-negative decimal index ("0".."99999"), nullopt otherwise.
std::optional<int64_t> index_of(const std::string& s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool is_param(const std::string& s) {
  return s == "weight" || s == "bias" || s == "running_mean" || s == "running_var" || s == "num_batches_tracked";
}

const std::set<std::string> kLukemelasBlockModules = {"_expand_conv", "_bn0",       "_depthwise_conv", "_bn1",
                                                      "_se_reduce",   "_se_expand", "_project_conv",   "_bn2"};

// A mapped key: the target name (without prefix), or dropped, or unknown (nullopt).
struct Slot {
  std::optional<std::string> target;
  bool drop = false;
};
Slot keep(std::string target) { return Slot{std::move(target), false}; }
Slot drop() { return Slot{std::nullopt, true}; }
Slot unknown() { return Slot{}; }

Slot lukemelas_slot(const Tokens& t, const std::string& key) {
  if (t.size() == 2 && is_param(t[1])) {
    if (t[0] == "_conv_stem" || t[0] == "_bn0" || t[0] == "_conv_head" || t[0] == "_bn1") return keep(key);
    if (t[0] == "_fc") return drop();  // the classifier: not part of the encoder
  }
  if (t.size() == 4 && t[0] == "_blocks" && index_of(t[1]) && kLukemelasBlockModules.count(t[2]) && is_param(t[3]))
    return keep(key);
  return unknown();
}

// Blocks addressed as (stage, index in stage) -> running block number, in
// stage order. Stages and blocks must be numbered without gaps.
class StageBlocks {
 public:
  void add(int64_t stage, int64_t j) { blocks_.insert({stage, j}); }
  void finalize(int64_t first_stage, const char* layout) {
    int64_t next_stage = first_stage, next_j = 0, n = 0;
    for (const auto& [s, j] : blocks_) {
      if (s != next_stage) {
        if (s != next_stage + 1 || next_j == 0)
          throw Error(str_cat("efficientnet key map (", layout, "): stage ", s, " follows stage ", next_stage,
                              next_j == 0 ? " which has no blocks" : ": a stage is missing"));
        next_stage = s;
        next_j = 0;
      }
      if (j != next_j)
        throw Error(
            str_cat("efficientnet key map (", layout, "): stage ", s, " has block ", j, " but no block ", next_j));
      number_[{s, j}] = n++;
      ++next_j;
    }
  }
  int64_t number(int64_t stage, int64_t j) const { return number_.at({stage, j}); }

 private:
  std::set<std::pair<int64_t, int64_t>> blocks_;
  std::map<std::pair<int64_t, int64_t>, int64_t> number_;
};

std::string block_key(int64_t n, const char* module, const std::string& param) {
  return str_cat("_blocks.", n, ".", module, ".", param);
}

// torchvision: features.0 = stem (conv 0, BN 1); features.<s>.<j>.block.<m>...
// for the stages; features.<last> = head; classifier.1 = fc. A block with an
// expansion conv has four parts (expand, depthwise, SE, project); one without
// has three, every index shifted down by one.
std::vector<Slot> torchvision_slots(const std::vector<Tokens>& keys) {
  int64_t head = -1;
  for (const auto& t : keys)
    if (t.size() >= 2 && t[0] == "features" && index_of(t[1])) head = std::max(head, *index_of(t[1]));
  StageBlocks blocks;
  std::set<std::pair<int64_t, int64_t>> expanded;
  auto block_of = [&](const Tokens& t) -> std::optional<std::pair<int64_t, int64_t>> {
    if (t.size() >= 6 && t[0] == "features" && t[3] == "block" && index_of(t[1]) && index_of(t[2]) && index_of(t[4]) &&
        *index_of(t[1]) > 0 && *index_of(t[1]) < head)
      return std::make_pair(*index_of(t[1]), *index_of(t[2]));
    return std::nullopt;
  };
  for (const auto& t : keys)
    if (auto b = block_of(t)) {
      blocks.add(b->first, b->second);
      if (t[4] == "3") expanded.insert(*b);
    }
  blocks.finalize(1, "torchvision");

  std::vector<Slot> out;
  for (const auto& t : keys) {
    Slot slot = unknown();
    if (t.size() == 4 && t[0] == "features" && (t[2] == "0" || t[2] == "1") && is_param(t[3])) {
      if (t[1] == "0") slot = keep((t[2] == "0" ? "_conv_stem." : "_bn0.") + t[3]);
      else if (index_of(t[1]) == head) slot = keep((t[2] == "0" ? "_conv_head." : "_bn1.") + t[3]);
    } else if (t.size() == 3 && t[0] == "classifier" && t[1] == "1" && is_param(t[2])) {
      slot = drop();
    } else if (auto b = block_of(t)) {
      const int64_t n = blocks.number(b->first, b->second);
      const int64_t m = *index_of(t[4]) + (expanded.count(*b) ? 0 : 1);  // 0 expand, 1 depthwise, 2 SE, 3 project
      const std::string& part = t[5];
      if (t.size() == 7 && is_param(t[6])) {
        const char* conv[] = {"_expand_conv", "_depthwise_conv", nullptr, "_project_conv"};
        const char* bn[] = {"_bn0", "_bn1", nullptr, "_bn2"};
        if (m <= 3 && m != 2 && (part == "0" || part == "1"))
          slot = keep(block_key(n, part == "0" ? conv[m] : bn[m], t[6]));
        else if (m == 2 && (part == "fc1" || part == "fc2"))
          slot = keep(block_key(n, part == "fc1" ? "_se_reduce" : "_se_expand", t[6]));
      }
    }
    out.push_back(slot);
  }
  return out;
}

// timm: conv_stem, bn1, blocks.<s>.<j>.*, conv_head, bn2, classifier. An
// InvertedResidual block has conv_pw (expand), bn1, conv_dw, bn2, se, conv_pwl
// (project), bn3; a DepthwiseSeparable one (stage 0) conv_dw, bn1, se, conv_pw
// (project), bn2.
std::vector<Slot> timm_slots(const std::vector<Tokens>& keys) {
  StageBlocks blocks;
  std::set<std::pair<int64_t, int64_t>> inverted;
  auto block_of = [&](const Tokens& t) -> std::optional<std::pair<int64_t, int64_t>> {
    if (t.size() >= 5 && t[0] == "blocks" && index_of(t[1]) && index_of(t[2]))
      return std::make_pair(*index_of(t[1]), *index_of(t[2]));
    return std::nullopt;
  };
  for (const auto& t : keys)
    if (auto b = block_of(t)) {
      blocks.add(b->first, b->second);
      if (t[3] == "conv_pwl") inverted.insert(*b);
    }
  blocks.finalize(0, "timm");

  static const std::map<std::string, const char*> kInverted = {
      {"conv_pw", "_expand_conv"},      {"bn1", "_bn0"},
      {"conv_dw", "_depthwise_conv"},   {"bn2", "_bn1"},
      {"se.conv_reduce", "_se_reduce"}, {"se.conv_expand", "_se_expand"},
      {"conv_pwl", "_project_conv"},    {"bn3", "_bn2"}};
  static const std::map<std::string, const char*> kSeparable = {
      {"conv_dw", "_depthwise_conv"},   {"bn1", "_bn1"},
      {"se.conv_reduce", "_se_reduce"}, {"se.conv_expand", "_se_expand"},
      {"conv_pw", "_project_conv"},     {"bn2", "_bn2"}};
  static const std::map<std::string, const char*> kTop = {
      {"conv_stem", "_conv_stem"}, {"bn1", "_bn0"}, {"conv_head", "_conv_head"}, {"bn2", "_bn1"}};

  std::vector<Slot> out;
  for (const auto& t : keys) {
    Slot slot = unknown();
    if (t.size() == 2 && is_param(t[1])) {
      if (auto it = kTop.find(t[0]); it != kTop.end()) slot = keep(std::string(it->second) + "." + t[1]);
      else if (t[0] == "classifier") slot = drop();
    } else if (auto b = block_of(t); b && is_param(t.back())) {
      const auto& table = inverted.count(*b) ? kInverted : kSeparable;
      Tokens module(t.begin() + 3, t.end() - 1);
      if (auto it = table.find(join(module, 0)); it != table.end())
        slot = keep(block_key(blocks.number(b->first, b->second), it->second, t.back()));
    }
    out.push_back(slot);
  }
  return out;
}

std::vector<Slot> identity_slots(const std::vector<Tokens>& keys, const std::vector<std::string>& names,
                                 bool official) {
  std::vector<Slot> out;
  for (size_t k = 0; k < keys.size(); ++k) {
    const Tokens& t = keys[k];
    if (!official) {
      out.push_back(lukemelas_slot(t, names[k]));
    } else if (t[0] == "encoder") {
      Slot s = lukemelas_slot(Tokens(t.begin() + 1, t.end()), names[k].substr(8));
      out.push_back(s.target ? keep(names[k]) : unknown());  // the baseline's encoder has no _fc
    } else {
      out.push_back(t.size() >= 2 && (t[0] == "fpn_decoder" || t[0] == "heads") ? keep(names[k]) : unknown());
    }
  }
  return out;
}

const char* kEpsWarning =
    "BatchNorm eps: %s uses 1e-5, Sono's encoder (SMP/lukemelas) 1e-3; the weights are used as they are with "
    "eps 1e-3, so every BatchNorm output changes slightly (most where running_var is small)";
const char* kSymmetricPadWarning =
    "padding: %s pads every conv symmetrically (k//2); the SMP encoder uses static TF-'same' pads computed for the "
    "design resolution, asymmetric (0,1,0,1) on the stem and on several stride-2 depthwise convs (B4: stem, blocks 2, "
    "10, 22): weights trained with symmetric padding see inputs shifted by one pixel there, so features differ "
    "(docs/reference-model.md 7.3: up to 5.5 at the B4 stem output)";
const char* kMomentumWarning =
    "BatchNorm momentum: %s uses 0.1, SMP 0.01 (PyTorch convention); this only affects how running statistics "
    "move during training";

std::string fill(const char* pattern, const char* name) {
  std::string s(pattern);
  const size_t at = s.find("%s");
  return s.replace(at, 2, name);
}

std::vector<std::string> warnings_for(EfficientNetLayout layout) {
  switch (layout) {
    case EfficientNetLayout::Torchvision:
      return {fill(kEpsWarning, "torchvision"), fill(kSymmetricPadWarning, "torchvision"),
              fill(kMomentumWarning, "torchvision")};
    case EfficientNetLayout::Timm:
      return {fill(kEpsWarning, "timm efficientnet"), fill(kSymmetricPadWarning, "timm efficientnet"),
              fill(kMomentumWarning, "timm"),
              "timm efficientnet_bN and tf_efficientnet_bN have identical keys: if this checkpoint comes from "
              "tf_efficientnet_bN, convert it with layout tf_efficientnet (its numerics differ)"};
    case EfficientNetLayout::TimmTf:
      return {
          "padding: tf_efficientnet pads its stride-2 convs dynamically (TF 'same' from the actual input size); "
          "the SMP encoder uses static pads computed once for the design resolution; they differ where the "
          "input size does not reproduce the design sizes (B4 at 256x256: block 6 = timm blocks.2.0.conv_dw, "
          "static (2,2,2,2) vs dynamic (1,2,1,2)), so features from that block on differ",
          fill(kMomentumWarning, "timm")};
    case EfficientNetLayout::Lukemelas:
    case EfficientNetLayout::Official: break;
  }
  return {};
}

}  // namespace

const char* efficientnet_layout_name(EfficientNetLayout layout) {
  switch (layout) {
    case EfficientNetLayout::Lukemelas: return "lukemelas";
    case EfficientNetLayout::Torchvision: return "torchvision";
    case EfficientNetLayout::Timm: return "timm";
    case EfficientNetLayout::TimmTf: return "tf_efficientnet";
    case EfficientNetLayout::Official: return "official";
  }
  return "?";
}

std::optional<EfficientNetLayout> parse_efficientnet_layout(const std::string& name) {
  for (auto l : {EfficientNetLayout::Lukemelas, EfficientNetLayout::Torchvision, EfficientNetLayout::Timm,
                 EfficientNetLayout::TimmTf, EfficientNetLayout::Official})
    if (name == efficientnet_layout_name(l)) return l;
  if (name == "smp") return EfficientNetLayout::Lukemelas;
  return std::nullopt;
}

EfficientNetLayout detect_efficientnet_layout(const std::vector<std::string>& keys) {
  std::set<std::string> k(keys.begin(), keys.end());
  bool model_parts = false;
  for (const auto& key : keys) model_parts |= key.rfind("fpn_decoder.", 0) == 0 || key.rfind("heads.", 0) == 0;
  if (k.count("encoder._conv_stem.weight") && model_parts) return EfficientNetLayout::Official;
  if (k.count("_conv_stem.weight")) return EfficientNetLayout::Lukemelas;
  if (k.count("features.0.0.weight")) return EfficientNetLayout::Torchvision;
  if (k.count("conv_stem.weight") && k.count("blocks.0.0.conv_dw.weight")) return EfficientNetLayout::Timm;
  std::string first;
  for (size_t i = 0; i < keys.size() && i < 3; ++i) first += (i ? ", " : "") + keys[i];
  throw Error(str_cat("efficientnet key map: the keys (", keys.size(), ": ", first, keys.size() > 3 ? ", ..." : "",
                      ") fit no known EfficientNet layout (lukemelas/SMP, torchvision, timm, official model)"));
}

KeyMapReport map_efficientnet_keys(const std::vector<std::string>& keys, EfficientNetLayout layout,
                                   const std::string& prefix) {
  std::vector<Tokens> tokens;
  tokens.reserve(keys.size());
  for (const auto& k : keys) tokens.push_back(split(k));
  std::vector<Slot> slots;
  switch (layout) {
    case EfficientNetLayout::Lukemelas: slots = identity_slots(tokens, keys, false); break;
    case EfficientNetLayout::Official: slots = identity_slots(tokens, keys, true); break;
    case EfficientNetLayout::Torchvision: slots = torchvision_slots(tokens); break;
    case EfficientNetLayout::Timm:
    case EfficientNetLayout::TimmTf: slots = timm_slots(tokens); break;
  }

  KeyMapReport r;
  r.layout = layout;
  std::vector<std::string> bad;
  std::set<std::string> targets;
  for (size_t k = 0; k < keys.size(); ++k) {
    if (slots[k].drop) {
      r.dropped.push_back(keys[k]);
    } else if (!slots[k].target) {
      bad.push_back(keys[k]);
    } else {
      std::string target = prefix + *slots[k].target;
      if (!targets.insert(target).second) bad.push_back(keys[k] + " (a second source for " + target + ")");
      r.renamed.emplace_back(keys[k], std::move(target));
    }
  }
  if (!bad.empty()) {
    std::string list;
    for (size_t i = 0; i < bad.size() && i < 10; ++i) list += (i ? ", " : "") + bad[i];
    throw Error(str_cat("efficientnet key map (", efficientnet_layout_name(layout), "): ", bad.size(),
                        " keys do not fit this layout: ", list, bad.size() > 10 ? ", ..." : ""));
  }
  r.warnings = warnings_for(layout);
  return r;
}

NamedTensors convert_efficientnet_state_dict(const NamedTensors& source, EfficientNetLayout layout,
                                             KeyMapReport* report, const std::string& prefix) {
  std::vector<std::string> keys;
  keys.reserve(source.size());
  for (const auto& kv : source) keys.push_back(kv.first);
  KeyMapReport r = map_efficientnet_keys(keys, layout, prefix);
  std::map<std::string, const Tensor*> by_name;
  for (const auto& kv : source) by_name[kv.first] = &kv.second;
  NamedTensors out;
  out.reserve(r.renamed.size());
  for (const auto& [from, to] : r.renamed) out.emplace_back(to, *by_name.at(from));
  if (report) *report = std::move(r);
  return out;
}

std::string KeyMapReport::summary() const {
  size_t same = 0;
  for (const auto& [from, to] : renamed) same += from == to;
  std::string s =
      str_cat("efficientnet key map: ", efficientnet_layout_name(layout), " -> lukemelas/SMP encoder: ", renamed.size(),
              " tensors (", renamed.size() - same, " renamed, ", same, " unchanged), ", dropped.size(), " dropped");
  for (size_t i = 0; i < dropped.size(); ++i)
    s += (i ? ", " : " (") + dropped[i] + (i + 1 == dropped.size() ? ")" : "");
  for (const auto& w : warnings) s += "\n  warning: " + w;
  return s;
}

}  // namespace sono::nn
