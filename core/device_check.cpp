#include "core/device_check.h"

#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace sono {

namespace {

struct Pending {
  Tensor flag;  // i64 [3] on the device (undefined on the CPU)
  int64_t host[3] = {0, 0, 0};
  std::vector<DeviceCheckMessage> messages;
  int64_t* data() { return flag.defined() ? flag.data<int64_t>() : host; }
};

thread_local Pending t_cpu;

// Never destroyed: the flags are cuda tensors, which must not be freed after
// the CUDA runtime unloads at exit (core/cuda/allocator.cpp).
std::mutex g_mutex;
std::map<int, Pending>& cuda_pending() {
  static auto* m = new std::map<int, Pending>();
  return *m;
}

// The pending checks of a cuda device; mutex held.
Pending& cuda_state(Device device) {
  Pending& p = cuda_pending()[device.index];
  if (!p.flag.defined()) p.flag = Tensor::zeros({3}, DType::I64, device);
  return p;
}

// Throws the reported failure of `p` whose flag reads `v`, else forgets the checks.
void resolve(Pending& p, const int64_t v[3]) {
  if (v[0] == 0) {
    p.messages.clear();
    return;
  }
  const size_t id = size_t(v[0] - 1);
  std::string msg = id < p.messages.size() ? p.messages[id](v[1], v[2])
                                           : str_cat("device check ", id, " failed (value ", v[1], ", at ", v[2], ")");
  p.messages.clear();
  if (p.flag.defined()) p.flag.fill_(0);
  else p.host[0] = p.host[1] = p.host[2] = 0;
  throw Error(msg);
}

}  // namespace

DeviceCheck begin_device_check(Device device, DeviceCheckMessage message) {
  if (device.is_cpu()) {
    t_cpu.messages.push_back(std::move(message));
    return {int64_t(t_cpu.messages.size()) - 1, t_cpu.host};
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  Pending& p = cuda_state(device);
  p.messages.push_back(std::move(message));
  return {int64_t(p.messages.size()) - 1, p.data()};
}

void end_device_check(Device device) {
  if (!device.is_cpu()) return;
  const int64_t v[3] = {t_cpu.host[0], t_cpu.host[1], t_cpu.host[2]};
  resolve(t_cpu, v);
}

const int64_t* pending_check_flag(Device device) {
  if (device.is_cpu()) return nullptr;
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = cuda_pending().find(device.index);
  if (it == cuda_pending().end() || it->second.messages.empty()) return nullptr;
  return it->second.data();
}

void resolve_device_checks(Device device, const int64_t host_flag[3]) {
  if (device.is_cpu()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  resolve(cuda_pending()[device.index], host_flag);
}

}  // namespace sono
