// The MPI communicator. Every collective is posted nonblocking and waited for
// with a deadline (MPI's blocking collectives can hang forever on a stalled
// peer); check_in() is point to point, so that a timeout can name the ranks
// that did not arrive.
#include "dist/comm_backends.h"

#if SONO_WITH_MPI
#include <mpi.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#endif

namespace sono::dist {

#if SONO_WITH_MPI

namespace {

constexpr int kCheckInTag = 7101;
constexpr size_t kLabelBytes = 64;

using Clock = std::chrono::steady_clock;

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw RankFailure(str_cat("dist: ", call, " failed: ", std::string(msg, size_t(len))));
}

MPI_Datatype mpi_type(const Tensor& t, const std::string& what) {
  SONO_CHECK(t.is_contiguous(), "dist", what, ": tensor ", t.describe(), " must be contiguous");
  SONO_CHECK(t.device().is_cpu(), "dist", what, ": tensor ", t.describe(),
             " is on a device; the MPI communicator takes host tensors (device ones need NCCL)");
  switch (t.dtype()) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I64: return MPI_INT64_T;
    default: break;
  }
  throw Error(str_cat("dist: ", what, ": tensor ", t.describe(), " has a dtype MPI collectives here do not take"));
}

// Polls until done or the deadline; a tight spin first, then short sleeps
// (ranks share cores with the loader threads).
template <class Done>
bool wait_until(Done done, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (Clock::now() > deadline) return false;
    if (i > 2000) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

class MpiReduce final : public PendingReduce {
 public:
  MpiReduce(MPI_Request r, std::string what, int rank, double timeout)
      : req_(r), what_(std::move(what)), rank_(rank), timeout_(timeout) {}
  ~MpiReduce() override {
    // Never leave a request that writes into a freed tensor behind.
    if (!done_) MPI_Wait(&req_, MPI_STATUS_IGNORE);
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
    done_ = flag != 0;
    return done_;
  }
  void wait() override {
    if (!wait_until([&] { return test(); }, timeout_))
      throw RankFailure(str_cat("dist: rank ", rank_, ": ", what_, " did not complete within ", timeout_,
                                " s (--dist-timeout): another rank died or stalled"));
  }

 private:
  MPI_Request req_;
  std::string what_;
  int rank_;
  double timeout_;
  bool done_ = false;
};

class Mpi final : public Communicator {
 public:
  Mpi() {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      // Once per process (MPI cannot be initialised twice): a later
      // communicator in the same process reuses it.
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
    // Errors come back as codes (check_mpi) rather than ending the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  std::unique_ptr<PendingReduce> start_allreduce_sum(const Tensor& t, const std::string& what) override {
    const MPI_Datatype type = mpi_type(t, what);
    MPI_Request r;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), type, MPI_SUM, MPI_COMM_WORLD, &r),
              "MPI_Iallreduce");
    return std::make_unique<MpiReduce>(r, what, rank_, timeout_s_);
  }
  void allreduce_sum(const Tensor& t, const std::string& what) override { start_allreduce_sum(t, what)->wait(); }

  void broadcast(const Tensor& t, int root, const std::string& what) override {
    const MPI_Datatype type = mpi_type(t, what);
    MPI_Request r;
    check_mpi(MPI_Ibcast(t.raw_data(), int(t.numel()), type, root, MPI_COMM_WORLD, &r), "MPI_Ibcast");
    MpiReduce(r, what, rank_, timeout_s_).wait();
  }

  std::vector<std::string> allgather(const std::string& bytes, const std::string& what) override {
    std::vector<int> lens(size_t(size_), 0);
    int mine = int(bytes.size());
    MPI_Request r;
    check_mpi(MPI_Iallgather(&mine, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD, &r), "MPI_Iallgather");
    MpiReduce(r, what, rank_, timeout_s_).wait();
    std::vector<int> displs(size_t(size_), 0);
    for (int i = 1; i < size_; ++i) displs[size_t(i)] = displs[size_t(i - 1)] + lens[size_t(i - 1)];
    std::string all(size_t(displs.back() + lens.back()), '\0');
    check_mpi(MPI_Iallgatherv(bytes.data(), mine, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR,
                              MPI_COMM_WORLD, &r),
              "MPI_Iallgatherv");
    MpiReduce(r, what, rank_, timeout_s_).wait();
    std::vector<std::string> out;
    for (int i = 0; i < size_; ++i) out.push_back(all.substr(size_t(displs[size_t(i)]), size_t(lens[size_t(i)])));
    return out;
  }

  void check_in(const std::string& label) override {
    char mine[kLabelBytes] = {};
    std::strncpy(mine, label.c_str(), kLabelBytes - 1);
    std::vector<std::array<char, kLabelBytes>> theirs(static_cast<size_t>(size_));
    std::vector<MPI_Request> recv(size_t(size_), MPI_REQUEST_NULL), send(size_t(size_), MPI_REQUEST_NULL);
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      check_mpi(MPI_Irecv(theirs[size_t(p)].data(), int(kLabelBytes), MPI_CHAR, p, kCheckInTag, MPI_COMM_WORLD,
                          &recv[size_t(p)]),
                "MPI_Irecv");
      check_mpi(MPI_Isend(mine, int(kLabelBytes), MPI_CHAR, p, kCheckInTag, MPI_COMM_WORLD, &send[size_t(p)]),
                "MPI_Isend");
    }
    std::vector<bool> arrived(size_t(size_), false);
    arrived[size_t(rank_)] = true;
    auto all_arrived = [&] {
      bool all = true;
      for (int p = 0; p < size_; ++p) {
        if (arrived[size_t(p)]) continue;
        int flag = 0;
        check_mpi(MPI_Test(&recv[size_t(p)], &flag, MPI_STATUS_IGNORE), "MPI_Test");
        arrived[size_t(p)] = flag != 0;
        all = all && arrived[size_t(p)];
      }
      return all;
    };
    if (!wait_until(all_arrived, timeout_s_)) {
      std::string missing;
      for (int p = 0; p < size_; ++p)
        if (!arrived[size_t(p)]) missing += str_cat(missing.empty() ? "" : ", ", p);
      throw RankFailure(str_cat("dist: rank ", rank_, ": rank(s) ", missing, " did not reach ", label, " within ",
                                timeout_s_, " s (--dist-timeout): they died or stalled"));
    }
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      const std::string at(theirs[size_t(p)].data());
      if (at != mine)
        throw RankFailure(str_cat("dist: rank ", rank_, " is at ", mine, " but rank ", p, " is at ", at,
                                  ": the ranks run different steps"));
    }
    if (!wait_until(
            [&] {
              int flag = 0;
              MPI_Testall(int(send.size()), send.data(), &flag, MPI_STATUSES_IGNORE);
              return flag != 0;
            },
            timeout_s_))
      throw RankFailure(
          str_cat("dist: rank ", rank_, ": the check-in of ", label, " was not delivered within ", timeout_s_, " s"));
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi(double timeout_s) {
  auto c = std::make_unique<Mpi>();
  c->set_timeout(timeout_s);
  return c;
}

#else

std::unique_ptr<Communicator> make_mpi(double) {
  throw Error("dist: this sono was built without MPI (CMake found no MPI); install libopenmpi-dev and rebuild");
}

#endif

}  // namespace sono::dist
