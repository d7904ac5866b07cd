// The thread pool behind parallel_for (core/parallel.h).
//
// A job is published as one 64-bit word, state = generation << 32 | chunks
// not yet claimed. Every thread, the caller first, claims a chunk by a
// compare-and-swap that lowers the count of the generation it saw; a thread
// that saw an older generation fails the swap and so can never run a chunk of
// a job it did not see published. The job's fields are read only after a
// successful claim, and the caller does not publish the next job before every
// claimed chunk has finished, so they cannot change under a reader.
//
// The caller waits for the chunks other threads claimed, never for threads
// that have not arrived: a worker whose core another process holds costs the
// job nothing unless it is preempted in the middle of a chunk. Idle threads
// (workers between jobs, the caller when the last chunks are someone
// else's) sleep at once by default: measured on the 2-core EPYC,
// model/cpu/train/reg at 2 threads, 5 repetitions, quiet and beside a
// one-core spinner (2 interleaved rounds, SONO_SPIN_US):
//   spin 0 us:    quiet 430, 463 ms   loaded 700, 694 ms
//   spin 50 us:   quiet 423-498 ms    loaded 735-830 ms
//   spin 300 us:  quiet 418, 423 ms   loaded 855, 955 ms
//   spin 2000 us: quiet 435, 482 ms   loaded 1114, 1128 ms
// (libgomp's regions before: quiet 426-497 ms, loaded 813-950 ms). On a
// quiet machine the futex wake-up is lost in the noise; beside a busy core a
// spinning thread only takes time slices from the thread it waits for, and a
// sleeping one is woken ahead of the other process.
#include "core/parallel.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sono {

namespace {

thread_local int t_worker = 0;
thread_local bool t_in_job = false;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

int positive_env(const char* name) {
  const char* e = std::getenv(name);
  if (e == nullptr) return 0;
  // OMP_NUM_THREADS may list one count per nesting level ("2,1"): the first.
  const long v = std::strtol(e, nullptr, 10);
  return v > 0 && v <= 4096 ? int(v) : 0;
}

int initial_threads() {
  for (const char* name : {"SONO_NUM_THREADS", "OMP_NUM_THREADS"})
    if (int v = positive_env(name)) return v;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? int(hw) : 1;
}

// How long an idle thread spins before it sleeps: 0 (above) unless
// SONO_SPIN_US says otherwise, for measurements.
std::chrono::nanoseconds spin_time() {
  const char* e = std::getenv("SONO_SPIN_US");
  const long us = e != nullptr ? std::strtol(e, nullptr, 10) : 0;
  return std::chrono::microseconds(us < 0 ? 0 : us);
}

// Spins until done() holds or `limit` has passed; whether it holds.
template <class Done>
bool spin_until(const Done& done, std::chrono::nanoseconds limit) {
  if (done()) return true;
  if (limit.count() == 0) return false;
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      cpu_relax();
      if (done()) return true;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

constexpr uint64_t kCountMask = 0xffffffffu;

class Pool {
 public:
  Pool() : threads_(initial_threads()), spin_(spin_time()) {}
  ~Pool() { stop_workers(); }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void set_threads(int t) {
    if (t < 1) t = 1;
    if (t == threads()) return;
    stop_workers();
    threads_.store(t, std::memory_order_relaxed);
  }

  void run(int64_t n, int64_t chunk, detail::ChunkFn fn, const void* body) {
    if (chunk < 1) chunk = 1;
    // The count of chunks must fit the state word's low half.
    const int64_t max_chunks = int64_t(std::numeric_limits<int32_t>::max());
    if ((n + chunk - 1) / chunk > max_chunks) chunk = (n + max_chunks - 1) / max_chunks;
    if (n <= chunk || t_in_job || threads() == 1 || busy_.exchange(true, std::memory_order_acquire)) {
      fn(body, 0, n);
      return;
    }
    if (workers_.size() + 1 != size_t(threads())) start_workers();

    fn_ = fn;
    body_ = body;
    n_ = n;
    chunk_ = chunk;
    chunks_ = (n + chunk - 1) / chunk;
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    const uint32_t gen = ++generation_;
    const int64_t chunks = chunks_;
    state_.store(uint64_t(gen) << 32 | uint64_t(chunks), std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }

    t_in_job = true;
    for (int64_t i; (i = claim(gen)) >= 0;) run_chunk(i);
    t_in_job = false;

    auto all_done = [&] { return finished_.load(std::memory_order_acquire) == chunks; };
    if (!spin_until(all_done, spin_)) {
      std::unique_lock<std::mutex> lock(mutex_);
      caller_waiting_.store(true, std::memory_order_seq_cst);
      done_.wait(lock, all_done);
      caller_waiting_.store(false, std::memory_order_relaxed);
    }
    std::exception_ptr error = error_;
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
  }

 private:
  // Claims a chunk of job `gen`: its index, or -1 when none is left (or the
  // job is no longer the current one).
  int64_t claim(uint32_t gen) {
    uint64_t s = state_.load(std::memory_order_acquire);
    while (uint32_t(s >> 32) == gen && (s & kCountMask) != 0)
      if (state_.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel, std::memory_order_acquire))
        return int64_t(s & kCountMask) - 1;
    return -1;
  }

  void run_chunk(int64_t i) {
    const int64_t chunks = chunks_, begin = i * chunk_, end = std::min(n_, begin + chunk_);
    try {
      fn_(body_, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    // After this increment the job may end and its fields change: nothing
    // of it is read below.
    if (finished_.fetch_add(1, std::memory_order_seq_cst) + 1 == chunks &&
        caller_waiting_.load(std::memory_order_seq_cst)) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_one();
    }
  }

  void worker_main(int index, uint32_t seen) {
    t_worker = index;
    auto published = [&] {
      return stop_.load(std::memory_order_acquire) || uint32_t(state_.load(std::memory_order_acquire) >> 32) != seen;
    };
    for (;;) {
      if (!spin_until(published, spin_)) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, published);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      seen = uint32_t(state_.load(std::memory_order_acquire) >> 32);
      t_in_job = true;
      for (int64_t i; (i = claim(seen)) >= 0;) run_chunk(i);
      t_in_job = false;
    }
  }

  void start_workers() {
    stop_workers();
    const uint32_t gen = uint32_t(state_.load() >> 32);
    for (int i = 1; i < threads(); ++i) workers_.emplace_back([this, i, gen] { worker_main(i, gen); });
  }

  void stop_workers() {
    if (workers_.empty()) return;
    stop_.store(true, std::memory_order_seq_cst);
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
    workers_.clear();
    stop_.store(false, std::memory_order_relaxed);
  }

  std::atomic<int> threads_;
  const std::chrono::nanoseconds spin_;
  std::vector<std::thread> workers_;
  std::atomic<bool> busy_{false}, stop_{false}, caller_waiting_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mutex_;
  std::condition_variable wake_, done_;

  // The current job; written by the caller before it publishes state_.
  detail::ChunkFn fn_ = nullptr;
  const void* body_ = nullptr;
  int64_t n_ = 0, chunk_ = 1, chunks_ = 0;
  std::exception_ptr error_;
  uint32_t generation_ = 0;
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> finished_{0};
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int num_threads() { return pool().threads(); }
void set_num_threads(int threads) { pool().set_threads(threads); }
int this_worker() { return t_worker; }
bool in_parallel() { return t_in_job; }

namespace detail {
void run_chunks(int64_t n, int64_t chunk, ChunkFn fn, const void* body) { pool().run(n, chunk, fn, body); }
}  // namespace detail

}  // namespace sono
