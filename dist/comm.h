#pragma once
// The communicator of data-parallel training (docs/distributed.md): which
// rank this process is, and the collectives the trainer needs. One interface,
// three implementations: a single process (no other ranks; every collective
// is the identity), MPI (dist/comm_mpi.cpp: launch, rendezvous and host
// collectives) and NCCL on top of MPI for device tensors (dist/cuda/comm_nccl.cu,
// bootstrapped as llm.c does: ncclGetUniqueId on rank 0, MPI_Bcast,
// ncclCommInitRank).
//
// Every wait has a deadline (`timeout_s`): a rank that died or stalls makes
// the others fail with RankFailure naming what did not arrive, instead of
// hanging in a collective forever.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace sono::dist {

// A rank died, stalled past the timeout, or disagrees with the others. The
// process cannot continue: `sono train` prints the message and aborts the job.
class RankFailure : public Error {
 public:
  using Error::Error;
};

// An all-reduce posted and not yet waited for.
class PendingReduce {
 public:
  virtual ~PendingReduce() = default;
  // Drives progress; true once the result is in the tensor.
  virtual bool test() = 0;
  // Blocks (up to the communicator's timeout) until the result is in the tensor.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;       // rank among the processes of this host
  virtual std::string backend() const = 0;  // "single", "mpi", "nccl"

  // In-place sum over ranks of a contiguous f32/f64 tensor. Host tensors go
  // through MPI; device tensors need the NCCL communicator. `what` names the
  // collective in a timeout message.
  virtual void allreduce_sum(const Tensor& t, const std::string& what) = 0;
  // The same without waiting: the tensor must stay alive and untouched until
  // the returned handle's wait() returned.
  virtual std::unique_ptr<PendingReduce> start_allreduce_sum(const Tensor& t, const std::string& what) = 0;
  // Rank root's tensor into every rank's (same shape and dtype).
  virtual void broadcast(const Tensor& t, int root, const std::string& what) = 0;
  // Every rank's bytes, indexed by rank.
  virtual std::vector<std::string> allgather(const std::string& bytes, const std::string& what) = 0;
  // Every rank reached `label` (e.g. "step 12") within the timeout; otherwise
  // RankFailure naming the ranks that did not.
  virtual void check_in(const std::string& label) = 0;
  // Ends the whole job now (every rank), after a RankFailure or any error on one rank.
  [[noreturn]] virtual void abort(int code) = 0;

  double timeout_s() const { return timeout_s_; }
  void set_timeout(double s) { timeout_s_ = s; }

 protected:
  double timeout_s_ = 300;
};

// The single-process communicator: rank 0 of 1; every collective is the identity.
std::unique_ptr<Communicator> make_single_process();

// Where this process stands in a launch, from the launcher's environment:
// OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK} (mpirun), PMI_RANK/PMI_SIZE (MPICH,
// Slurm's PMI), RANK/WORLD_SIZE/LOCAL_RANK (torchrun-style launchers).
struct LaunchEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string source;  // the variables it came from; empty: no launcher
};
LaunchEnv launch_env();

// The variables launch_env() reads, each list in order of precedence (the
// first one set wins: mpirun's before the others).
inline constexpr const char* kLaunchSizeVars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "WORLD_SIZE"};
inline constexpr const char* kLaunchRankVars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "RANK"};
inline constexpr const char* kLaunchLocalRankVars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "LOCAL_RANK"};
// All of them: what a test that runs "without a launcher" checks is unset.
std::vector<const char*> launch_env_vars();

// Whether this binary was built with MPI (find_package(MPI)) and with NCCL.
bool built_with_mpi();
bool built_with_nccl();

// The communicator for this process: single-process when no launcher started
// it (or it started 1 rank, unless `force_mpi`), else MPI (initialised here).
// A launch of several ranks with a binary built without MPI is refused
// with a message saying so. `device_collectives`: NCCL for CUDA tensors
// (refused when not built with NCCL).
std::unique_ptr<Communicator> make_communicator(double timeout_s, bool device_collectives = false,
                                                bool force_mpi = false);

}  // namespace sono::dist
