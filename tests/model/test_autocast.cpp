// The mixed-precision policy (core/autocast.h): where casts happen, what
// stays f32, the bf16 weight cache, and that autocast off changes nothing.
// The whole-model bf16-vs-fp32 errors are tests/train/test_bf16_training.cpp.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/autocast.h"
#include "core/autograd.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "model/multitask_model.h"
#include "ops/ops.h"
#include "optim/adamw.h"
#include "tasks/dataset.h"
#include "tasks/task_kind.h"
#include "tests/support/check.h"
#include "train/step.h"

using namespace sono;
using namespace sono::test;
using autocast::Op;

namespace {

const char* const kTasks[] = {"cardiac_multi", "organ_cls", "thyroid_nodule_det", "IUGC"};  // seg, cls, det, reg

bool bits_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && values(a) == values(b);
}

// The process precision for one scope.
struct PrecisionScope {
  Precision previous;
  explicit PrecisionScope(Precision p) : previous(precision()) { set_precision(p); }
  ~PrecisionScope() { set_precision(previous); }
};

model::MultiTaskModelConfig b0_config() {
  model::MultiTaskModelConfig c = tasks::model_config();
  c.encoder = "efficientnet-b0";
  c.init_seed = 3;
  return c;
}

// The fields of the rows of docs/precision.md's policy table (its first
// three columns: family, input, parameters), in order.
std::vector<std::vector<std::string>> doc_policy_rows() {
  std::ifstream f(std::string(SONO_TEST_DATA_DIR) + "/../../docs/precision.md");
  REQUIRE_MESSAGE(f.good(), "cannot read docs/precision.md");
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(f, line)) {
    if (line.rfind("| family |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.rfind("|", 0) != 0) break;  // the table ended
    if (line.rfind("|---", 0) == 0 || line.rfind("| ---", 0) == 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    std::string cell;
    while (std::getline(ss, cell, '|')) {
      const size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    rows.push_back(cells);
  }
  return rows;
}

}  // namespace

TEST_CASE("autocast: one policy row per op family, and docs/precision.md's table says the same") {
  const auto& table = autocast::policy_table();
  const auto doc = doc_policy_rows();
  REQUIRE(doc.size() == table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    CHECK(size_t(table[i].op) == i);
    CHECK(&autocast::policy(table[i].op) == &table[i]);
    INFO("row ", i, ": ", table[i].family);
    REQUIRE(doc[i].size() >= 3);
    CHECK(doc[i][0] == table[i].family);
    CHECK(doc[i][1] == autocast::cast_name(table[i].input));
    CHECK(doc[i][2] == autocast::params_name(table[i].params));
  }
  // What the issue fixes: bf16 math ops, fp32 norms' parameters, losses, softmax, reductions, optimizer.
  for (Op op : {Op::Conv2d, Op::DepthwiseConv2d, Op::Linear}) {
    CHECK(autocast::policy(op).input == autocast::Cast::BF16);
    CHECK(autocast::policy(op).params == autocast::Params::BF16Copy);
  }
  for (Op op : {Op::BatchNorm, Op::GroupNorm}) CHECK(autocast::policy(op).params == autocast::Params::FP32Master);
  for (Op op : {Op::Softmax, Op::Loss, Op::Reduction, Op::ReadOut, Op::Probability, Op::Optimizer})
    CHECK(autocast::policy(op).input == autocast::Cast::FP32);
}

TEST_CASE("autocast: off by default, on only inside a bf16 guard, casts by the table") {
  CHECK_FALSE(autocast::enabled());
  const Tensor x = randn({2, 3}, 1, DType::F32), h = x.to(DType::BF16), d = randn({2, 3}, 2, DType::F64);
  // Off: every call hands its argument back.
  for (Op op : {Op::Conv2d, Op::Loss, Op::Elementwise}) {
    CHECK(autocast::input(op, x).same(x));
    CHECK(autocast::input(op, h).same(h));
  }
  {
    AutocastGuard fp32(Precision::FP32), tf32(Precision::TF32);
    CHECK_FALSE(autocast::enabled());
    CHECK(autocast::input(Op::Conv2d, x).same(x));
  }
  {
    AutocastGuard bf16(Precision::BF16);
    CHECK(autocast::enabled());
    CHECK(autocast::input(Op::Conv2d, x).dtype() == DType::BF16);
    CHECK(autocast::input(Op::Conv2d, h).same(h));
    CHECK(autocast::input(Op::Conv2d, d).same(d));  // f64 (gradient checks) keeps its dtype
    CHECK(autocast::input(Op::Loss, h).dtype() == DType::F32);
    CHECK(autocast::input(Op::Loss, x).same(x));
    CHECK(autocast::input(Op::BatchNorm, h).same(h));  // promote: a single input keeps its dtype
    CHECK(autocast::input(Op::BatchNorm, x).same(x));
    Tensor a = h, b = x;
    autocast::promote(a, b);
    CHECK(a.dtype() == DType::F32);
    CHECK(b.same(x));
    CHECK(values(a) == values(h));
    {
      AutocastGuard off(Precision::FP32);  // nested: off for its scope only
      CHECK_FALSE(autocast::enabled());
    }
    CHECK(autocast::enabled());
  }
  CHECK_FALSE(autocast::enabled());
}

TEST_CASE("autocast: the bf16 weight copy is cached, its gradient reaches the f32 master, and it is refreshed") {
  nn::Linear lin(5, 4);
  Generator gen(7);
  lin.reset_parameters(gen);
  const Tensor& w = lin.weight();
  AdamW opt({ParamGroup{"all", lin.parameters(), 1e-2, 1e-2}});
  AutocastGuard bf16(Precision::BF16);
  const int64_t casts0 = autocast::cache_stats().casts;
  Tensor c1 = autocast::param(Op::Linear, w);
  CHECK(c1.dtype() == DType::BF16);
  CHECK(c1.requires_grad());
  CHECK(autocast::param(Op::Linear, w).same(c1));  // reused within the step
  CHECK(autocast::cache_stats().casts == casts0 + 1);
  CHECK(autocast::param(Op::BatchNorm, w).same(w));  // an fp32-master family gets the master itself
  // The gradient through the copy arrives at the master as f32, equal to the
  // bf16 gradient widened (the cast's backward is exact).
  Tensor r = randn({4, 5}, 9, DType::F32);
  sum(mul(c1.to(DType::F32), r)).backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().dtype() == DType::F32);
  CHECK(w.dtype() == DType::F32);
  CHECK(values(w.grad()) == values(r.to(DType::BF16)));
  // Its backward ran: the next step's graph needs a new copy (same values).
  Tensor c2 = autocast::param(Op::Linear, w);
  CHECK_FALSE(c2.same(c1));
  CHECK(values(c2) == values(c1));
  // The optimizer updates the master: a stale copy would keep the old values.
  {
    NoGradGuard ng;  // the copy made here (no graph) is reused below only under no-grad
    CHECK(autocast::param(Op::Linear, w).same(c2));
  }
  const std::vector<double> before = values(w);
  opt.step();
  CHECK(values(w) != before);
  Tensor c3 = autocast::param(Op::Linear, w);
  CHECK_FALSE(c3.same(c2));
  CHECK(values(c3) == values(w.to(DType::BF16)));
  // Any in-place write refreshes it too.
  {
    NoGradGuard ng;
    w.fill_(0.25);
    CHECK(values(autocast::param(Op::Linear, w)) == std::vector<double>(20, 0.25));
    w.add_(w, 1.0);
    CHECK(values(autocast::param(Op::Linear, w)) == std::vector<double>(20, 0.5));
  }
  CHECK(opt.state().at(w.name()).exp_avg.dtype() == DType::F32);
  CHECK(opt.state().at(w.name()).exp_avg_sq.dtype() == DType::F32);
}

TEST_CASE("autocast: leaving the last guard empties the weight cache") {
  nn::Linear lin(3, 2);
  {
    AutocastGuard bf16(Precision::BF16);
    autocast::param(Op::Linear, lin.weight());
    {
      AutocastGuard inner(Precision::BF16);
      autocast::param(Op::Linear, lin.bias());
    }
    CHECK(autocast::cache_stats().entries == 2);  // the outer scope still holds them
  }
  CHECK(autocast::cache_stats().entries == 0);
}

TEST_CASE("autocast: the task loss takes the head output cast up to f32") {
  const model::TaskRegistry reg = model::TaskRegistry::official();
  for (const char* id : kTasks) {
    INFO(id);
    const model::TaskSpec& spec = reg.at(id);
    data::Batch batch = tasks::synthetic_batch(spec, 2, 64, Device::cpu(), 5);
    const tasks::TaskKind& kind = tasks::task_kind(spec.type);
    // A head output of the right shape, as bf16 leaves (det: its probability
    // channels in (0, 1) as the head's sigmoid makes them).
    Shape shape = spec.type == TaskType::Segmentation     ? Shape{2, spec.num_classes, 64, 64}
                  : spec.type == TaskType::Detection      ? Shape{2, 5, 16, 16}
                  : spec.type == TaskType::Classification ? Shape{2, spec.num_classes}
                                                          : Shape{2, kind.output_channels(spec.num_classes)};
    Tensor out = rand_uniform(shape, 0.05, 0.95, 11, DType::F32).to(DType::BF16);
    out.set_requires_grad(true);
    Tensor expected = tasks::task_loss(batch, out.detach().to(DType::F32));  // autocast off: f32 by hand
    Tensor loss;
    {
      AutocastGuard bf16(Precision::BF16);
      loss = tasks::task_loss(batch, out);
    }
    CHECK(loss.dtype() == DType::F32);
    CHECK(bits_equal(loss, expected));
    loss.backward();
    REQUIRE(out.grad().defined());
    CHECK(out.grad().dtype() == DType::BF16);  // the cast's backward hands the activation its own dtype
  }
}

TEST_CASE("autocast: an fp32 or tf32 guard leaves the model's forward and gradients bit-identical") {
  model::MultiTaskModel m(b0_config());
  const std::vector<Tensor> params = m.parameters();
  const Tensor x = randn({2, 3, 64, 64}, 4, DType::F32);
  auto run = [&](const std::string& task, bool guard, Precision p) {
    m.zero_grad();
    m.random().generator.offset = 0;
    std::vector<std::vector<double>> out;
    Tensor y;
    if (guard) {
      AutocastGuard g(p);
      y = m.forward(x, task);
    } else {
      y = m.forward(x, task);
    }
    out.push_back(values(y));
    sum(mul(y, randn(y.shape(), 8, y.dtype()))).backward();
    for (const Tensor& p : params)
      if (p.grad().defined()) out.push_back(values(p.grad()));
    return out;
  };
  m.train();
  for (const char* task : kTasks) {
    INFO(task);
    const auto plain = run(task, false, Precision::FP32);
    CHECK(run(task, true, Precision::FP32) == plain);
    CHECK(run(task, true, Precision::TF32) == plain);
  }
}

TEST_CASE("autocast: layers under bf16 take bf16 inputs and weight copies, norms keep f32 parameters and statistics") {
  AutocastGuard bf16(Precision::BF16);
  Generator gen(21);
  // Convolution (dense and depthwise) and linear: bf16 in, bf16 out, equal to
  // the op on the cast tensors.
  nn::Conv2d conv(4, 6, 3, Conv2dOptions::symmetric(1), true);
  Conv2dOptions dwo = Conv2dOptions::symmetric(1);
  dwo.groups = 4;
  nn::Conv2d depthwise(4, 4, 3, dwo, false);
  nn::Linear lin(6, 3);
  conv.reset_parameters(gen);
  depthwise.reset_parameters(gen);
  lin.reset_parameters(gen);
  const Tensor x = randn({2, 4, 8, 8}, 22, DType::F32);
  Tensor y = conv.forward(x), z = depthwise.forward(x);
  CHECK(y.dtype() == DType::BF16);
  CHECK(z.dtype() == DType::BF16);
  {
    AutocastGuard off(Precision::FP32);
    auto h = [](const Tensor& t) { return t.to(DType::BF16); };
    CHECK(bits_equal(y, conv2d(h(x), h(conv.weight()), h(conv.bias()), conv.options())));
    CHECK(bits_equal(z, conv2d(h(x), h(depthwise.weight()), Tensor(), depthwise.options())));
  }
  Tensor v = lin.forward(randn({2, 6}, 23, DType::F32));
  CHECK(v.dtype() == DType::BF16);

  // BatchNorm on a bf16 activation: bf16 out; weight, bias and running
  // statistics stay f32, updated from f32 batch statistics equal to those of
  // f32 BatchNorm on the same (widened) values.
  nn::BatchNorm2d bn(6), bn32(6);
  bn.train();
  bn32.train();
  Tensor yb = bn.forward(y);
  CHECK(yb.dtype() == DType::BF16);
  for (const Tensor& t : {bn.weight(), bn.bias(), bn.running_mean(), bn.running_var()}) CHECK(t.dtype() == DType::F32);
  {
    AutocastGuard off(Precision::FP32);
    Tensor y32 = bn32.forward(y.detach().to(DType::F32));
    CHECK_CLOSE(bn.running_mean(), bn32.running_mean(), Tolerance{1e-6, 1e-7});
    CHECK_CLOSE(bn.running_var(), bn32.running_var(), Tolerance{1e-6, 1e-7});
    // The output differs from f32 BN's by its bf16 rounding only.
    CHECK_CLOSE(yb.to(DType::F32), y32, Tolerance{1.0 / 256, 1e-3});
  }
  nn::GroupNorm gn(2, 6);
  Tensor yg = gn.forward(y);
  CHECK(yg.dtype() == DType::BF16);
  CHECK(gn.weight().dtype() == DType::F32);
}

TEST_CASE("autocast: a bf16 training step keeps f32 masters, gradients and AdamW state, and refreshes the copies") {
  model::MultiTaskModel m(b0_config());
  m.train();
  AdamW opt({ParamGroup{"all", m.parameters(), 1e-3, 1e-3}});
  const model::TaskRegistry& reg = m.tasks();
  for (const char* task : kTasks) {
    INFO(task);
    data::Batch batch = tasks::synthetic_batch(reg.at(task), 2, 64, Device::cpu(), 6);
    Tensor again;
    {
      AutocastGuard bf16(Precision::BF16);  // one guard over the step and the next forward
      opt.zero_grad();
      Tensor out = m.forward(batch.images, task);
      // The head's output: bf16, except detection's probabilities (fp32 before the sigmoid).
      CHECK(out.dtype() == (std::string(task) == "thyroid_nodule_det" ? DType::F32 : DType::BF16));
      Tensor loss = tasks::task_loss(batch, out);
      CHECK(loss.dtype() == DType::F32);
      loss.backward();
      int64_t with_grad = 0;
      for (const auto& [name, p] : m.named_parameters()) {
        CHECK_MESSAGE(p.dtype() == DType::F32, name);
        if (!p.grad().defined()) continue;
        ++with_grad;
        CHECK_MESSAGE(p.grad().dtype() == DType::F32, name);
      }
      CHECK(with_grad > 0);
      for (const auto& [name, b] : m.named_buffers())
        if (is_floating(b.dtype())) CHECK_MESSAGE(b.dtype() == DType::F32, name);
      opt.step();
      for (const auto& [name, st] : opt.state()) {
        CHECK(st.exp_avg.dtype() == DType::F32);
        CHECK(st.exp_avg_sq.dtype() == DType::F32);
      }
      m.eval();
      NoGradGuard ng;
      again = m.forward(batch.images, task);
      const int64_t casts = autocast::cache_stats().casts;
      CHECK(bits_equal(m.forward(batch.images, task), again));
      CHECK(autocast::cache_stats().casts == casts);  // no-grad forwards reuse the copies
    }
    // The forward after the step used the updated weights: it equals one in a
    // fresh guard (an empty cache) bit for bit; stale copies would differ.
    {
      AutocastGuard bf16(Precision::BF16);
      NoGradGuard ng;
      CHECK(bits_equal(m.forward(batch.images, task), again));
    }
    m.train();
  }
}

TEST_CASE("autocast: the training step runs forward and loss under the process precision") {
  model::MultiTaskModel a(b0_config()), b(b0_config());
  a.train();
  b.train();
  AdamW oa({ParamGroup{"all", a.parameters(), 1e-3, 1e-3}}), ob({ParamGroup{"all", b.parameters(), 1e-3, 1e-3}});
  data::Batch batch = tasks::synthetic_batch(a.tasks().at("organ_cls"), 2, 64, Device::cpu(), 9);
  // training_step with --precision bf16 == the same step with an explicit bf16 guard.
  Tensor la;
  {
    PrecisionScope p(Precision::BF16);
    la = training_step(a, oa, batch, "organ_cls");
  }
  ob.zero_grad();
  Tensor lb;
  {
    AutocastGuard bf16(Precision::BF16);
    lb = tasks::task_loss(batch, b.forward(batch.images, "organ_cls"));
  }
  lb.backward();
  ob.step();
  CHECK(bits_equal(la, lb));
  for (const auto& [name, p] : a.named_parameters()) CHECK_MESSAGE(bits_equal(p, b.tensor(name)), name);
  // With the default precision the step is the plain f32 one.
  CHECK(precision() == Precision::FP32);
  Tensor l32 = training_step(a, oa, batch, "organ_cls");
  CHECK(l32.dtype() == DType::F32);
  CHECK_FALSE(autocast::enabled());
}
