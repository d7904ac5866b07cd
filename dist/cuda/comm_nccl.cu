// The NCCL communicator: device tensors all-reduced and broadcast by NCCL on
// its own stream, ordered against the compute stream by events (so a bucket's
// all-reduce overlaps the rest of backward on the GPU); everything else, and
// the bootstrap, through the host (MPI) communicator it wraps, as llm.c does:
// ncclGetUniqueId on rank 0, broadcast over MPI, ncclCommInitRank.
#include "dist/comm_backends.h"

#if SONO_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#endif

namespace sono::dist {

#if SONO_WITH_NCCL

namespace {

void check_nccl(ncclResult_t r, const char* call) {
  if (r == ncclSuccess) return;
  throw RankFailure(str_cat("dist: ", call, " failed: ", ncclGetErrorString(r)));
}

ncclDataType_t nccl_type(const Tensor& t, const std::string& what) {
  SONO_CHECK(t.is_contiguous(), "dist", what, ": tensor ", t.describe(), " must be contiguous");
  switch (t.dtype()) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::I64: return ncclInt64;
    default: break;
  }
  throw Error(str_cat("dist: ", what, ": tensor ", t.describe(), " has a dtype NCCL collectives here do not take"));
}

// A collective queued on the NCCL stream; `done` is recorded after it.
class NcclReduce final : public PendingReduce {
 public:
  NcclReduce(cudaEvent_t done, cudaStream_t compute, ncclComm_t comm, std::string what, int rank, double timeout)
      : done_(done), compute_(compute), comm_(comm), what_(std::move(what)), rank_(rank), timeout_(timeout) {}
  ~NcclReduce() override { cudaEventDestroy(done_); }
  bool test() override {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaErrorNotReady) return false;
    SONO_CUDA_CHECK(e);
    return true;
  }
  // The compute stream waits for the collective (no host block), so the
  // optimizer step queued next reads the sums. A stalled peer shows as an
  // event that never completes: polled with the deadline, then the NCCL
  // communicator is aborted so the process can exit.
  void wait() override {
    SONO_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
    while (!test()) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess || std::chrono::steady_clock::now() > deadline) {
        ncclCommAbort(comm_);
        throw RankFailure(str_cat("dist: rank ", rank_, ": ", what_, " did not complete within ", timeout_,
                                  " s (--dist-timeout) or failed (", ncclGetErrorString(async),
                                  "): another rank died or stalled"));
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

 private:
  cudaEvent_t done_;
  cudaStream_t compute_;
  ncclComm_t comm_;
  std::string what_;
  int rank_;
  double timeout_;
};

class Nccl final : public Communicator {
 public:
  explicit Nccl(std::unique_ptr<Communicator> host) : host_(std::move(host)) {
    set_timeout(host_->timeout_s());
    // One GPU per local rank.
    int devices = 0;
    SONO_CUDA_CHECK(cudaGetDeviceCount(&devices));
    SONO_CHECK(devices > 0, "dist", "NCCL needs a CUDA device, found none");
    device_ = host_->local_rank() % devices;
    SONO_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id;
    if (host_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    const std::string mine(reinterpret_cast<const char*>(&id), host_->rank() == 0 ? sizeof id : 0);
    const std::string root = host_->allgather(mine, "the NCCL bootstrap")[0];
    SONO_CHECK(root.size() == sizeof id, "dist", "the NCCL unique id from rank 0 has ", root.size(), " bytes");
    std::memcpy(&id, root.data(), sizeof id);
    check_nccl(ncclCommInitRank(&comm_, host_->world_size(), id, host_->rank()), "ncclCommInitRank");
    SONO_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~Nccl() override {
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  int local_rank() const override { return host_->local_rank(); }
  std::string backend() const override { return "nccl"; }

  std::unique_ptr<PendingReduce> start_allreduce_sum(const Tensor& t, const std::string& what) override {
    if (t.device().is_cpu()) return host_->start_allreduce_sum(t, what);
    return launch(t, what, [&](cudaStream_t s) {
      check_nccl(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t, what), ncclSum, comm_, s),
                 "ncclAllReduce");
    });
  }
  void allreduce_sum(const Tensor& t, const std::string& what) override { start_allreduce_sum(t, what)->wait(); }
  void broadcast(const Tensor& t, int root, const std::string& what) override {
    if (t.device().is_cpu()) return host_->broadcast(t, root, what);
    launch(t, what, [&](cudaStream_t s) {
      check_nccl(ncclBroadcast(t.raw_data(), t.raw_data(), size_t(t.numel()), nccl_type(t, what), root, comm_, s),
                 "ncclBroadcast");
    })->wait();
  }
  std::vector<std::string> allgather(const std::string& bytes, const std::string& what) override {
    return host_->allgather(bytes, what);
  }
  void check_in(const std::string& label) override {
    host_->set_timeout(timeout_s_);
    host_->check_in(label);
  }
  [[noreturn]] void abort(int code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    host_->abort(code);
  }

 private:
  template <class Enqueue>
  std::unique_ptr<PendingReduce> launch(const Tensor& t, const std::string& what, Enqueue enqueue) {
    SONO_CHECK(t.device().index == device_, "dist", what, ": tensor ", t.describe(), " is not on cuda:", device_,
               ", this rank's device");
    const cudaStream_t compute = cuda::current_stream(device_);
    cudaEvent_t ready, done;
    SONO_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    SONO_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    // The collective starts once the compute stream has produced the tensor.
    SONO_CUDA_CHECK(cudaEventRecord(ready, compute));
    SONO_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
    enqueue(stream_);
    SONO_CUDA_CHECK(cudaEventRecord(done, stream_));
    cudaEventDestroy(ready);
    return std::make_unique<NcclReduce>(done, compute, comm_, what, rank(), timeout_s_);
  }

  std::unique_ptr<Communicator> host_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl(std::unique_ptr<Communicator> host) {
  return std::make_unique<Nccl>(std::move(host));
}

#endif

}  // namespace sono::dist
