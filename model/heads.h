#pragma once
// The four task heads of the baseline (their architectures; which task gets
// which is decided in tasks/), with its state-dict names:
//   segmentation   heads.<id>.0.{weight,bias}             (SMP SegmentationHead)
//   classification heads.<id>.head.3.{weight,bias}        (SMP ClassificationHead in a wrapper)
//   regression     heads.<id>.linear.{weight,bias}
//   detection      heads.<id>.conv_block.{0,1,3,4,6}.*    (FPNGridDetectionHead)
#include <memory>

#include "layers/basic.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "model/tasks.h"

namespace sono::model {

class TaskHead : public nn::UnaryModule {
 public:
  TaskHead(std::string type_name, TaskSpec spec) : UnaryModule(std::move(type_name)), spec_(std::move(spec)) {}
  const TaskSpec& spec() const { return spec_; }
  // True: input is the decoder output; false: the last encoder feature.
  virtual bool uses_decoder() const = 0;
  // PyTorch default initialisation (kaiming-uniform a=sqrt(5), bias U(+-1/sqrt(fan_in)), BN 1/0).
  virtual void reset_parameters(Generator& gen) = 0;
  // Conv/linear MACs of one sample for an input map of h x w.
  virtual int64_t macs(int64_t h, int64_t w) const = 0;

 private:
  TaskSpec spec_;
};

// conv1x1(in -> C, bias) -> bilinear x4 (align_corners=True) -> identity.
class SegmentationHead : public TaskHead {
 public:
  SegmentationHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels, int64_t upsampling = 4);
  Tensor forward(const Tensor& x) override;
  bool uses_decoder() const override { return true; }
  void reset_parameters(Generator& gen) override { conv_->reset_parameters(gen); }
  int64_t macs(int64_t h, int64_t w) const override { return conv_->macs(h, w); }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::UpsamplingBilinear2d> upsample_;
};

// head = Sequential(0 avg-pool, 1 flatten, 2 dropout, 3 linear, 4 identity).
class ClassificationHead : public TaskHead {
 public:
  ClassificationHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels, double dropout = 0.2);
  Tensor forward(const Tensor& x) override { return head_->forward(x); }
  bool uses_decoder() const override { return false; }
  void reset_parameters(Generator& gen) override { linear_->reset_parameters(gen); }
  int64_t macs(int64_t, int64_t) const override { return linear_->macs(); }

 private:
  std::shared_ptr<nn::Sequential> head_;
  std::shared_ptr<nn::Linear> linear_;
};

// avg-pool -> flatten -> linear(in -> 2 * points); no dropout, no activation.
class RegressionHead : public TaskHead {
 public:
  RegressionHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels);
  Tensor forward(const Tensor& x) override;
  bool uses_decoder() const override { return false; }
  void reset_parameters(Generator& gen) override { linear_->reset_parameters(gen); }
  int64_t macs(int64_t, int64_t) const override { return linear_->macs(); }

 private:
  std::shared_ptr<nn::Linear> linear_;
};

// conv_block = Sequential(0 conv3x3, 1 BN, 2 ReLU, 3 conv3x3, 4 BN, 5 ReLU,
// 6 conv1x1 -> 5); then sigmoid on channels 0..3 (box), channel 4 stays a logit.
class DetectionHead : public TaskHead {
 public:
  DetectionHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels);
  Tensor forward(const Tensor& x) override;
  bool uses_decoder() const override { return true; }
  void reset_parameters(Generator& gen) override;
  int64_t macs(int64_t h, int64_t w) const override;

 private:
  std::shared_ptr<nn::Sequential> conv_block_;
  std::shared_ptr<nn::Conv2d> conv0_, conv3_, conv6_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn4_;
};

// What a head is built from besides its spec; which head a task gets is its
// kind's choice (tasks::TaskKind::make_head), passed in as a HeadFactory.
struct HeadInputs {
  int64_t decoder_channels = 0;  // FPN decoder output width
  int64_t encoder_channels = 0;  // last encoder feature width
  double classification_dropout = 0.2;
};
using HeadFactory = std::shared_ptr<TaskHead> (*)(const TaskSpec& spec, const HeadInputs& inputs);

}  // namespace sono::model
