#pragma once
// Renames EfficientNet state dicts from other implementations into the layout
// of Sono's encoder, which is lukemelas' EfficientNet-PyTorch layout as SMP
// uses it ("_conv_stem", "_bn0", "_blocks.<i>.{_expand_conv, _bn0,
// _depthwise_conv, _bn1, _se_reduce, _se_expand, _project_conv, _bn2}",
// "_conv_head", "_bn1"; the classifier "_fc" has no place in the encoder).
//
// The mapping is derived from the block structure found in the keys (stages,
// blocks per stage, whether a block has an expansion conv), so it holds for
// b0..b7; all these implementations list the same tensors with the same shapes
// in the same order (docs/reference-model.md 7.3). Only names change: values are untouched.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/named_tensors.h"

namespace sono::nn {

enum class EfficientNetLayout {
  Lukemelas,    // lukemelas EfficientNet-PyTorch, SMP encoder state dict, smp-hub safetensors
  Torchvision,  // torchvision efficientnet_bN: features.*, classifier.1
  Timm,         // timm efficientnet_bN: conv_stem, bn1, blocks.<stage>.<j>.*, conv_head, bn2, classifier
  TimmTf,       // timm tf_efficientnet_bN: the same keys as Timm, TF numerics
  Official,     // the baseline's whole model (best_model.pth): encoder.*, fpn_decoder.*, heads.*
};

// "lukemelas", "torchvision", "timm", "tf_efficientnet", "official".
const char* efficientnet_layout_name(EfficientNetLayout layout);
// The names above, plus "smp" for Lukemelas; nullopt when unknown.
std::optional<EfficientNetLayout> parse_efficientnet_layout(const std::string& name);
// Recognises the layout from the keys. Timm and TimmTf cannot be told apart by
// their keys: Timm is returned (and its report says so). Throws when no layout fits.
EfficientNetLayout detect_efficientnet_layout(const std::vector<std::string>& keys);

struct KeyMapReport {
  EfficientNetLayout layout = EfficientNetLayout::Lukemelas;
  std::vector<std::pair<std::string, std::string>> renamed;  // source -> target, source order (identity included)
  std::vector<std::string> dropped;                          // source keys with no place in the target
  std::vector<std::string> warnings;                         // numerical differences to expect, plainly said
  std::string summary() const;                               // several lines, for logs
};

// Maps every key (the target names get `prefix`, e.g. "encoder." to load into
// the whole model). Throws sono::Error listing every key that does not fit the
// layout, and when a block structure is inconsistent (a missing block).
KeyMapReport map_efficientnet_keys(const std::vector<std::string>& keys, EfficientNetLayout layout,
                                   const std::string& prefix = "");

// The same applied to tensors (shared, not copied); dropped entries are left out.
NamedTensors convert_efficientnet_state_dict(const NamedTensors& source, EfficientNetLayout layout,
                                             KeyMapReport* report = nullptr, const std::string& prefix = "");

}  // namespace sono::nn
