// The thread pool (core/parallel.h): every iteration exactly once, in chunks
// of the asked size, at any thread count; exceptions, nesting, concurrent
// callers and changing the thread count.
#include "core/parallel.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace sono;

namespace {

// Restores the thread count a case changed.
struct ThreadsGuard {
  int before = num_threads();
  ~ThreadsGuard() { set_num_threads(before); }
};

// Runs parallel_for_chunks(n, chunk) and checks that the chunks tile [0, n):
// each iteration once, every chunk `chunk` long but the last.
void check_tiling(int64_t n, int64_t chunk) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int64_t> bad_chunks{0};
  parallel_for_chunks(n, chunk, [&](int64_t b, int64_t e) {
    if (!(b >= 0 && b < e && e <= n && b % chunk == 0 && (e - b == chunk || e == n))) ++bad_chunks;
    for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
  });
  CHECK(bad_chunks.load() == 0);
  int64_t wrong = 0;
  for (auto& h : hits) wrong += h.load() != 1;
  CHECK_MESSAGE(wrong == 0, "n ", n, " chunk ", chunk, ": ", wrong, " iterations not run exactly once");
}

}  // namespace

TEST_CASE("parallel: chunks tile the range once at 1, 2, 3 and 8 threads") {
  ThreadsGuard guard;
  for (int t : {1, 2, 3, 8}) {
    set_num_threads(t);
    CHECK(num_threads() == t);
    for (int64_t n : {1, 2, 7, 31, 32, 33, 1000, 100003})
      for (int64_t chunk : {int64_t(1), int64_t(3), int64_t(64), parallel_chunk(n), n, n + 5}) check_tiling(n, chunk);
  }
}

TEST_CASE("parallel: the threads share the work and this_worker names each") {
  ThreadsGuard guard;
  set_num_threads(3);
  std::vector<std::atomic<int>> by_worker(3);
  std::atomic<int> out_of_range{0};
  // Chunks that last long enough for the workers to wake and take some.
  for (int round = 0; round < 20; ++round)
    parallel_for_chunks(64, 1, [&](int64_t, int64_t) {
      const int w = this_worker();
      if (w < 0 || w >= 3) {
        ++out_of_range;
        return;
      }
      ++by_worker[size_t(w)];
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
  CHECK(out_of_range.load() == 0);
  int total = 0;
  for (auto& c : by_worker) total += c.load();
  CHECK(total == 20 * 64);
  // The caller always takes chunks; a worker that never woke would leave
  // its count at zero over 20 rounds of 12.8 ms each.
  CHECK(by_worker[0].load() > 0);
  CHECK(std::count_if(by_worker.begin(), by_worker.end(), [](auto& c) { return c.load() > 0; }) >= 2);
  CHECK(this_worker() == 0);
}

TEST_CASE("parallel: many tiny jobs back to back end with every chunk done") {
  ThreadsGuard guard;
  for (int t : {2, 3}) {
    set_num_threads(t);
    std::vector<int64_t> slot(4);
    int64_t expected = 0;
    for (int job = 0; job < 20000; ++job) {
      // Each job's chunks write disjoint slots; the next job reads them, so a
      // job returning before a chunk finished shows as a lost increment.
      parallel_for_chunks(4, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) slot[size_t(i)] += 1;
      });
      expected += 1;
      if (slot[0] != expected || slot[1] != expected || slot[2] != expected || slot[3] != expected) break;
    }
    CHECK(slot[0] == expected);
    CHECK(slot[3] == expected);
    CHECK(expected == 20000);
  }
}

TEST_CASE("parallel: an exception in a chunk reaches the caller after the job ends") {
  ThreadsGuard guard;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    std::atomic<int> ran{0};
    CHECK_THROWS_WITH_AS(parallel_for_chunks(100, 1,
                                             [&](int64_t b, int64_t e) {
                                               ++ran;
                                               if (b <= 37 && 37 < e) throw std::runtime_error("chunk 37 failed");
                                             }),
                         "chunk 37 failed", std::runtime_error);
    CHECK(ran.load() >= 1);
    // The pool is usable afterwards.
    check_tiling(1000, 10);
  }
}

TEST_CASE("parallel: a job inside a job runs serially on its thread") {
  ThreadsGuard guard;
  set_num_threads(3);
  std::vector<std::atomic<int>> hits(64 * 64);
  std::atomic<int> split_inner{0};
  parallel_for_chunks(64, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int me = this_worker();
      parallel_for_chunks(64, 1, [&](int64_t ib, int64_t ie) {
        if (this_worker() != me) ++split_inner;
        for (int64_t j = ib; j < ie; ++j) ++hits[size_t(i * 64 + j)];
      });
    }
  });
  CHECK(split_inner.load() == 0);
  int64_t wrong = 0;
  for (auto& h : hits) wrong += h.load() != 1;
  CHECK(wrong == 0);
}

TEST_CASE("parallel: callers on several threads at once each get their whole range") {
  ThreadsGuard guard;
  set_num_threads(2);
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int job = 0; job < 500; ++job) {
        std::vector<int> hits(257);
        parallel_for_chunks(257, 8, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) ++hits[size_t(i)];
        });
        failures += std::count_if(hits.begin(), hits.end(), [](int h) { return h != 1; });
      }
    });
  for (auto& t : callers) t.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("parallel: the thread count can change between jobs") {
  ThreadsGuard guard;
  for (int t : {3, 1, 2, 4, 2}) {
    set_num_threads(t);
    check_tiling(5000, 7);
  }
  set_num_threads(0);  // clamped
  CHECK(num_threads() == 1);
}

TEST_CASE("parallel: parallel_for splits only when asked") {
  ThreadsGuard guard;
  set_num_threads(2);
  int calls = 0;
  parallel_for(1000, false, [&](int64_t b, int64_t e) {
    ++calls;
    CHECK(b == 0);
    CHECK(e == 1000);
  });
  CHECK(calls == 1);
  std::atomic<int> chunks{0};
  parallel_for(1000, true, [&](int64_t b, int64_t e) {
    ++chunks;
    CHECK(e - b <= parallel_chunk(1000));
  });
  CHECK(chunks.load() == int((1000 + parallel_chunk(1000) - 1) / parallel_chunk(1000)));
  int empty = 0;
  parallel_for(0, true, [&](int64_t, int64_t) { ++empty; });
  CHECK(empty == 0);
}
