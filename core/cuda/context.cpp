#include "core/cuda/context.h"

#include <map>
#include <mutex>
#include <vector>

#include "core/allocator.h"
#include "core/cuda/check.h"
#include "core/cuda/runtime.h"
#include "core/host_sync.h"

namespace sono::cuda {

namespace {

struct Context {
  std::mutex mutex;  // guards the lazily created handles and the workspace
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  std::map<const void*, std::unique_ptr<ContextCache>> caches;  // by tag
};

// Contexts are created with their stream on first use and never destroyed,
// for the reason given for the allocators in allocator.cpp.
Context& context(int device) {
  static std::mutex mutex;
  static std::vector<Context*> contexts;
  check_device(device);
  std::lock_guard<std::mutex> lock(mutex);
  if (contexts.empty()) contexts.resize(size_t(device_count()), nullptr);
  Context*& c = contexts[size_t(device)];
  if (!c) {
    auto* fresh = new Context;
    DeviceGuard guard(device);
    SONO_CUDA_CHECK(cudaStreamCreateWithFlags(&fresh->stream, cudaStreamDefault));
    c = fresh;
  }
  return *c;
}

}  // namespace

cudaStream_t current_stream(int device) { return context(device).stream; }

cublasHandle_t cublas_handle(int device) {
  Context& c = context(device);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (!c.cublas) {
    DeviceGuard guard(device);
    SONO_CUBLAS_CHECK(cublasCreate(&c.cublas));
    SONO_CUBLAS_CHECK(cublasSetStream(c.cublas, c.stream));
  }
  return c.cublas;
}

cudnnHandle_t cudnn_handle(int device) {
  Context& c = context(device);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (!c.cudnn) {
    DeviceGuard guard(device);
    SONO_CUDNN_CHECK(cudnnCreate(&c.cudnn));
    SONO_CUDNN_CHECK(cudnnSetStream(c.cudnn, c.stream));
  }
  return c.cudnn;
}

void* workspace(int device, size_t bytes) {
  Allocator& alloc = allocator_for(Device::cuda(device));
  Context& c = context(device);
  std::lock_guard<std::mutex> lock(c.mutex);
  if (bytes > c.workspace_bytes) {
    // Freeing first lets the allocator reuse or release the old block; work
    // still queued on the stream finishes before the new owner's work runs.
    alloc.deallocate(c.workspace, c.workspace_bytes);
    c.workspace = nullptr;
    c.workspace_bytes = 0;
    c.workspace = alloc.allocate(bytes);
    c.workspace_bytes = bytes;
  }
  return c.workspace;
}

void synchronize(int device) {
  SONO_CUDA_CHECK(cudaStreamSynchronize(current_stream(device)));
  count_host_sync(HostSync::StreamSync);
}

ContextCache& context_cache(int device, const void* tag, std::unique_ptr<ContextCache> (*make)(int device)) {
  Context& c = context(device);
  std::lock_guard<std::mutex> lock(c.mutex);
  std::unique_ptr<ContextCache>& slot = c.caches[tag];
  if (!slot) slot = make(device);
  return *slot;
}

void reset_context(int device) {
  Allocator& alloc = allocator_for(Device::cuda(device));
  Context& c = context(device);
  synchronize(device);  // nothing queued may still use what is freed below
  std::map<const void*, std::unique_ptr<ContextCache>> caches;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    caches.swap(c.caches);
    DeviceGuard guard(device);
    if (c.cublas) SONO_CUBLAS_CHECK(cublasDestroy(c.cublas));
    if (c.cudnn) SONO_CUDNN_CHECK(cudnnDestroy(c.cudnn));
    c.cublas = nullptr;
    c.cudnn = nullptr;
    alloc.deallocate(c.workspace, c.workspace_bytes);
    c.workspace = nullptr;
    c.workspace_bytes = 0;
  }
  caches.clear();  // outside the lock: a cache's destructor may free tensors
}

}  // namespace sono::cuda
