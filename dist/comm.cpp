#include "dist/comm.h"

#include <cstdlib>
#include <iterator>

#include "dist/comm_backends.h"

namespace sono::dist {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "single"; }
  void allreduce_sum(const Tensor&, const std::string&) override {}
  std::unique_ptr<PendingReduce> start_allreduce_sum(const Tensor&, const std::string&) override {
    struct Done final : PendingReduce {
      bool test() override { return true; }
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(const Tensor&, int, const std::string&) override {}
  std::vector<std::string> allgather(const std::string& bytes, const std::string&) override { return {bytes}; }
  void check_in(const std::string&) override {}
  [[noreturn]] void abort(int code) override { std::_Exit(code); }
};

// The first of `names` that is set, as an int; -1 when none is.
template <size_t N>
int env_int(const char* const (&names)[N], std::string& source) {
  for (const char* n : names) {
    const char* v = std::getenv(n);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    SONO_CHECK(end && *end == '\0' && x >= 0 && x < (1L << 24), "dist", "environment variable ", n, "='", v,
               "' is not a rank or size");
    source += std::string(source.empty() ? "" : ", ") + n;
    return int(x);
  }
  return -1;
}

}  // namespace

std::unique_ptr<Communicator> make_single_process() { return std::make_unique<SingleProcess>(); }

LaunchEnv launch_env() {
  LaunchEnv e;
  const int size = env_int(kLaunchSizeVars, e.source);
  if (size <= 0) return LaunchEnv{};
  e.world_size = size;
  const int rank = env_int(kLaunchRankVars, e.source);
  const int local = env_int(kLaunchLocalRankVars, e.source);
  e.rank = rank < 0 ? 0 : rank;
  e.local_rank = local < 0 ? 0 : local;
  SONO_CHECK(e.rank < e.world_size, "dist", "rank ", e.rank, " is not below the world size ", e.world_size, " (from ",
             e.source, ")");
  return e;
}

std::vector<const char*> launch_env_vars() {
  std::vector<const char*> all(std::begin(kLaunchSizeVars), std::end(kLaunchSizeVars));
  all.insert(all.end(), std::begin(kLaunchRankVars), std::end(kLaunchRankVars));
  all.insert(all.end(), std::begin(kLaunchLocalRankVars), std::end(kLaunchLocalRankVars));
  return all;
}

bool built_with_mpi() { return SONO_WITH_MPI; }
bool built_with_nccl() { return SONO_WITH_NCCL; }

std::unique_ptr<Communicator> make_communicator(double timeout_s, bool device_collectives, bool force_mpi) {
  SONO_CHECK(timeout_s > 0, "dist", "--dist-timeout must be positive, got ", timeout_s);
  const LaunchEnv env = launch_env();
  std::unique_ptr<Communicator> c;
  if (env.world_size <= 1 && !force_mpi) {
    c = make_single_process();
  } else {
    SONO_CHECK(built_with_mpi(), "dist", "this process was launched as rank ", env.rank, " of ", env.world_size, " (",
               env.source,
               ") but this sono was built without MPI; install libopenmpi-dev and rebuild "
               "(CMake's find_package(MPI)), or run a single process");
    c = make_mpi(timeout_s);
    // A launcher that is not MPI's (torchrun-style RANK/WORLD_SIZE) leaves each
    // process an MPI world of its own: refuse rather than train N copies.
    SONO_CHECK(force_mpi || c->world_size() == env.world_size, "dist", "the launcher says ", env.world_size, " ranks (",
               env.source, ") but MPI_COMM_WORLD has ", c->world_size(),
               "; start the ranks with mpirun (or another MPI launcher)");
    if (device_collectives) {
      SONO_CHECK(built_with_nccl(), "dist",
                 "a CUDA device with several ranks needs NCCL, and this sono was built without it");
      c = make_nccl(std::move(c));
    }
  }
  c->set_timeout(timeout_s);
  return c;
}

#if !SONO_WITH_NCCL
std::unique_ptr<Communicator> make_nccl(std::unique_ptr<Communicator>) {
  throw Error("dist: this sono was built without NCCL (it comes with the CUDA toolkit; build with SONO_CUDA=ON)");
}
#endif

}  // namespace sono::dist
