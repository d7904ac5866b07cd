#include "dist/grad_sync.h"

#include <algorithm>
#include <unordered_set>

#include "ops/binary.h"

namespace sono::dist {

GradSync::GradSync(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)), bucket_bytes_(bucket_bytes) {
  SONO_CHECK(bucket_bytes_ > 0, "dist", "the gradient bucket size must be positive, got ", bucket_bytes_);
  for (size_t i = 0; i < params_.size(); ++i) {
    SONO_CHECK(params_[i].dtype() == DType::F32, "dist", "parameter ", params_[i].name(), " is ", params_[i].describe(),
               "; gradient averaging takes f32 parameters");
    index_[&params_[i].impl()] = int64_t(i);
  }
}

GradSync::~GradSync() {
  if (hooked_) autograd::set_grad_ready_hook(std::move(previous_hook_));
}

void GradSync::begin(const Tensor& loss, double weight) {
  SONO_CHECK(!hooked_, "dist", "GradSync::begin called twice without finish");
  weight_ = weight;
  // The parameters this backward reaches: the AccumulateGrad leaves of the graph.
  std::vector<bool> reached(params_.size(), false);
  if (loss.grad_fn()) {
    std::vector<Node*> stack{loss.grad_fn().get()};
    std::unordered_set<Node*> seen{stack.back()};
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      if (auto* acc = dynamic_cast<AccumulateGrad*>(n)) {
        auto leaf = acc->leaf();
        auto it = leaf ? index_.find(leaf.get()) : index_.end();
        if (it != index_.end()) reached[size_t(it->second)] = true;
      }
      for (auto& nx : n->next)
        if (nx && seen.insert(nx.get()).second) stack.push_back(nx.get());
    }
  }
  auto [it, fresh] = layouts_.try_emplace(reached);
  std::vector<Bucket>& buckets = it->second;
  if (fresh) {
    // Reverse registration order: the heads and the decoder finish first.
    for (int64_t i = int64_t(params_.size()) - 1; i >= 0; --i) {
      if (!reached[size_t(i)]) continue;
      if (buckets.empty() || buckets.back().numel * 4 >= bucket_bytes_) buckets.emplace_back();
      Bucket& b = buckets.back();
      b.params.push_back(i);
      b.offsets.push_back(b.numel);
      b.numel += params_[size_t(i)].numel();
    }
    for (Bucket& b : buckets) {
      b.numel += int64_t(b.params.size());  // the presence flags
      b.buffer = Tensor::empty({b.numel}, DType::F32, params_[size_t(b.params[0])].device());
    }
  }
  bucket_of_.assign(params_.size(), -1);
  for (size_t k = 0; k < buckets.size(); ++k) {
    Bucket& b = buckets[k];
    b.ready = 0;
    b.done = false;
    b.pending.reset();
    for (int64_t p : b.params) bucket_of_[size_t(p)] = int64_t(k);
  }
  active_ = &buckets;
  previous_hook_ = autograd::set_grad_ready_hook([this](const Tensor& leaf) { on_grad_ready(leaf); });
  hooked_ = true;
}

void GradSync::on_grad_ready(const Tensor& leaf) {
  auto it = index_.find(&leaf.impl());
  if (it == index_.end() || bucket_of_[size_t(it->second)] < 0) return;
  Bucket& b = (*active_)[size_t(bucket_of_[size_t(it->second)])];
  if (++b.ready == int64_t(b.params.size())) post(b);
  poll();  // MPI progresses inside MPI calls: drive the buckets in flight
}

void GradSync::post(Bucket& b) {
  const int64_t flags = b.numel - int64_t(b.params.size());
  for (size_t j = 0; j < b.params.size(); ++j) {
    const Tensor& p = params_[size_t(b.params[j])];
    const int64_t n = p.numel(), at = b.offsets[j];
    const Tensor g = p.grad();
    if (g.defined()) {
      b.buffer.slice(0, at, at + n).copy_(g.reshape({n}));
      b.buffer.slice(0, flags + int64_t(j), flags + int64_t(j) + 1).fill_(1.0);
    } else {
      b.buffer.slice(0, at, at + n).fill_(0.0);
      b.buffer.slice(0, flags + int64_t(j), flags + int64_t(j) + 1).fill_(0.0);
    }
  }
  // x * 1.0 is exact, but skip the pass anyway.
  if (weight_ != 1.0) b.buffer.copy_(mul_scalar(b.buffer, weight_));
  b.posted = Clock::now();
  b.pending = comm_.start_allreduce_sum(b.buffer, str_cat("the gradient all-reduce (", b.numel * 4, " bytes)"));
}

void GradSync::poll() {
  for (Bucket& b : *active_)
    if (b.pending && !b.done && b.pending->test()) {
      b.done = true;
      b.completed = Clock::now();
    }
}

CommStats GradSync::finish() {
  SONO_CHECK(hooked_, "dist", "GradSync::finish without begin");
  autograd::set_grad_ready_hook(std::move(previous_hook_));
  hooked_ = false;
  const Clock::time_point backward_end = Clock::now();
  CommStats st;
  for (Bucket& b : *active_)
    if (!b.pending) post(b);
  for (Bucket& b : *active_) {
    if (!b.done) {
      b.pending->wait();
      b.done = true;
      b.completed = Clock::now();
    }
    const int64_t flags = b.numel - int64_t(b.params.size());
    const std::vector<float> flag = b.buffer.slice(0, flags, b.numel).to_vector<float>();
    for (size_t j = 0; j < b.params.size(); ++j) {
      const Tensor& p = params_[size_t(b.params[j])];
      if (flag[j] == 0.0f) {
        p.reset_grad();
        continue;
      }
      const Tensor sum = b.buffer.slice(0, b.offsets[j], b.offsets[j] + p.numel()).view(p.shape());
      if (p.grad().defined()) p.grad().copy_(sum);
      else p.set_grad(sum.clone());
    }
    st.buckets += 1;
    st.bytes += b.numel * 4;
    st.bucket_bytes.push_back(b.numel * 4);
  }
  // Busy time: the union of the buckets' [posted, completed] intervals.
  std::vector<std::pair<Clock::time_point, Clock::time_point>> spans;
  for (Bucket& b : *active_) spans.emplace_back(b.posted, b.completed);
  std::sort(spans.begin(), spans.end());
  Clock::time_point cur_start{}, cur_end{};
  bool open = false;
  for (auto& [s, e] : spans) {
    if (open && s <= cur_end) {
      cur_end = std::max(cur_end, e);
      continue;
    }
    if (open) st.busy_seconds += std::chrono::duration<double>(cur_end - cur_start).count();
    cur_start = s;
    cur_end = e;
    open = true;
  }
  if (open) st.busy_seconds += std::chrono::duration<double>(cur_end - cur_start).count();
  Clock::time_point last = backward_end;
  for (auto& [s, e] : spans) last = std::max(last, e);
  st.exposed_seconds = std::chrono::duration<double>(last - backward_end).count();
  st.hidden_fraction = st.busy_seconds > 0 ? std::clamp(1.0 - st.exposed_seconds / st.busy_seconds, 0.0, 1.0) : 1.0;
  active_ = nullptr;
  return st;
}

}  // namespace sono::dist
