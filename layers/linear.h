#pragma once
#include "layers/module.h"

namespace sono::nn {

// nn.Linear: weight [out, in], bias [out].
class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;                      // x [N, in] -> [N, out]
  void reset_parameters(Generator& gen);                         // PyTorch default
  int64_t macs() const { return in_features_ * out_features_; }  // per sample

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t in_features_, out_features_;
  Tensor weight_, bias_;
};

}  // namespace sono::nn
