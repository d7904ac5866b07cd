#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "core/error.h"
#include "data/py_random.h"
#include "data/sampler.h"
#include "data/split.h"

using namespace sono;
using namespace sono::data;

namespace {

// Samples whose task is given per row.
std::vector<Sample> samples_with_tasks(const std::vector<int64_t>& tasks) {
  std::vector<Sample> s(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) s[i].task = tasks[i];
  return s;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t(0));
  return v;
}

}  // namespace

TEST_CASE("PyRandom: the sequences of CPython's random module") {
  // Values printed by Python 3.11: random.Random(42).getrandbits(32) x 3, etc.
  PyRandom r(42);
  CHECK(r.next32() == 2746317213u);
  CHECK(r.next32() == 478163327u);
  CHECK(r.next32() == 107420369u);
  PyRandom q(42);
  std::vector<int> v{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  q.shuffle(v);
  CHECK(v == std::vector<int>{7, 3, 2, 8, 5, 6, 9, 4, 0, 1});
  CHECK(q.randbelow(7) == 4);  // q.choice(range(7)) after the shuffle
  CHECK(q.randbelow(100000) == 55302);
  CHECK(PyRandom(0).next32() == 3626764237u);
  CHECK(PyRandom(123456789012345ull).next32() == 2896848117u);  // a two-word seed key

  PyRandom a(5);
  for (int i = 0; i < 700; ++i) a.next32();  // past a twist
  PyRandom b(99);
  b.set_state(a.state());
  for (int i = 0; i < 1000; ++i) REQUIRE(a.next32() == b.next32());
  CHECK_THROWS_WITH_AS(b.set_state({1, 2, 3}), doctest::Contains("PyRandom::set_state"), Error);
}

TEST_CASE("random_split: torch.utils.data.random_split with manual_seed, bit for bit") {
  // torch.randperm(10, generator=torch.Generator().manual_seed(42)) (torch 1.13)
  CHECK(torch_randperm(10, 42) == std::vector<int64_t>{2, 6, 1, 8, 4, 5, 0, 9, 3, 7});
  Split s = random_split(1000, 0.2, 42);
  REQUIRE(s.train.size() == 800);
  REQUIRE(s.val.size() == 200);
  CHECK(s.train[0] == 542);
  CHECK(s.val[0] == 673);
  int64_t h = 0;  // (h * 31 + x) mod 1e9+7 over val, as computed in Python
  for (int64_t x : s.val) h = (h * 31 + x) % 1000000007;
  CHECK(h == 599595854);

  std::vector<int64_t> all = s.train;
  all.insert(all.end(), s.val.begin(), s.val.end());
  std::sort(all.begin(), all.end());
  CHECK(all == iota(1000));
  CHECK(random_split(7, 0.2, 1).val.size() == 1);  // int(0.2 * 7)
  CHECK(random_split(1000, 0.2, 42).val == s.val);
  CHECK(random_split(1000, 0.2, 43).val != s.val);
}

TEST_CASE("TaskSampler: the batches of the baseline's sampler after random.seed(7)") {
  // Rows 0-4 task 0, 5-34 task 1, 35-46 task 2; batch 8; expected output of
  // the baseline's MultiTaskUniformSampler logic run in Python (2 epochs).
  std::vector<int64_t> tasks;
  for (int64_t r = 0; r < 47; ++r) tasks.push_back(r < 5 ? 0 : (r < 35 ? 1 : 2));
  const std::vector<Sample> samples = samples_with_tasks(tasks);
  TaskSampler sampler(samples, iota(47), 8, 7);
  CHECK(sampler.steps_per_epoch() == 5);
  CHECK(sampler.tasks() == std::vector<int64_t>{0, 1, 2});
  const std::vector<PlannedBatch> expected = {
      {0, {4, 0, 3, 1, 2, 3, 4, 1}},         {2, {36, 40, 38, 42, 46, 35, 44, 45}},
      {2, {41, 39, 37, 43, 37, 44, 43, 38}}, {1, {15, 27, 10, 20, 32, 17, 9, 30}},
      {1, {33, 19, 14, 5, 26, 13, 25, 12}},  {0, {3, 4, 1, 0, 2, 1, 0, 3}},
      {2, {37, 44, 43, 38, 41, 46, 35, 45}}, {1, {15, 27, 10, 20, 32, 17, 9, 30}},
      {1, {33, 19, 14, 5, 26, 13, 25, 12}},  {2, {42, 36, 39, 40, 46, 35, 37, 43}}};
  std::vector<PlannedBatch> got = sampler.epoch();
  std::vector<PlannedBatch> second = sampler.epoch();
  got.insert(got.end(), second.begin(), second.end());
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].task == expected[i].task);
    CHECK(got[i].rows == expected[i].rows);
  }
}

TEST_CASE("TaskSampler: single-task batches, uniform task choice") {
  // Four tasks of very different sizes, rows interleaved.
  std::vector<int64_t> tasks;
  const int64_t sizes[4] = {50, 100, 30, 200};
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t i = 0; i < sizes[t]; ++i) tasks.push_back(t);
  std::vector<Sample> samples = samples_with_tasks(tasks);
  std::vector<int64_t> rows = iota(int64_t(tasks.size()));
  std::reverse(rows.begin(), rows.end());  // first appearance: 3, 2, 1, 0
  TaskSampler sampler(samples, rows, 20, 1);
  CHECK(sampler.steps_per_epoch() == 380 / 20);
  CHECK(sampler.tasks() == std::vector<int64_t>{3, 2, 1, 0});
  std::map<int64_t, int64_t> count;
  const int64_t steps = 8000;
  for (int64_t i = 0; i < steps; ++i) {
    PlannedBatch b = sampler.next();
    REQUIRE(b.rows.size() == 20);  // every task has >= 20 rows
    for (int64_t r : b.rows) REQUIRE(samples[size_t(r)].task == b.task);
    ++count[b.task];
  }
  for (int64_t t = 0; t < 4; ++t) {
    CAPTURE(t);
    CHECK(std::abs(double(count[t]) / steps - 0.25) < 0.025);  // 5 binomial standard deviations
  }
}

TEST_CASE("TaskSampler: wrap-around, tasks smaller than a batch, epochs restart cursors") {
  // Task 0 has 5 rows, task 1 has 30; batch 20.
  std::vector<int64_t> tasks(35, 1);
  std::fill(tasks.begin(), tasks.begin() + 5, 0);
  std::vector<Sample> samples = samples_with_tasks(tasks);
  TaskSampler sampler(samples, iota(35), 20, 3);
  std::vector<PlannedBatch> small, large;
  for (int i = 0; i < 200 && (small.size() < 3 || large.size() < 3); ++i) {
    PlannedBatch b = sampler.next();
    (b.task == 0 ? small : large).push_back(b);
  }
  REQUIRE(small.size() >= 3);
  REQUIRE(large.size() >= 3);
  // Task 0: 5 remaining + 5 after the reshuffle (cursor 15), then 0 + 5 (cursor 20), then 0 + 5.
  CHECK(small[0].rows.size() == 10);
  CHECK(small[1].rows.size() == 5);
  CHECK(small[2].rows.size() == 5);
  std::set<int64_t> first(small[0].rows.begin(), small[0].rows.begin() + 5);
  std::set<int64_t> refill(small[0].rows.begin() + 5, small[0].rows.end());
  CHECK(first == std::set<int64_t>{0, 1, 2, 3, 4});
  CHECK(refill == std::set<int64_t>{0, 1, 2, 3, 4});
  // Task 1: 20 distinct rows, then the 10 left + 10 from the reshuffled list, then 20 (cursor 10 -> 30).
  CHECK(std::set<int64_t>(large[0].rows.begin(), large[0].rows.end()).size() == 20);
  REQUIRE(large[1].rows.size() == 20);
  std::set<int64_t> seen(large[0].rows.begin(), large[0].rows.end());
  std::set<int64_t> rest(large[1].rows.begin(), large[1].rows.begin() + 10);
  for (int64_t r : rest) CHECK(seen.count(r) == 0);  // the remainder is the 10 not yet used
  CHECK(large[2].rows.size() == 20);

  // A new epoch starts every cursor at 0: the small task again gives 5 + 5.
  TaskSampler fresh(samples, iota(35), 20, 3);
  CHECK(fresh.steps_per_epoch() == 1);
  for (int e = 0; e < 30; ++e) {
    std::vector<PlannedBatch> plan = fresh.epoch();
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].rows.size() == (plan[0].task == 0 ? 10u : 20u));
  }
}

TEST_CASE("TaskSampler: deterministic, and state save/restore resumes exactly") {
  std::vector<int64_t> tasks;
  for (int64_t r = 0; r < 90; ++r) tasks.push_back(r % 3);
  std::vector<Sample> samples = samples_with_tasks(tasks);
  TaskSampler a(samples, iota(90), 7, 11), b(samples, iota(90), 7, 11), c(samples, iota(90), 7, 12);
  std::vector<PlannedBatch> pa = a.epoch(), pb = b.epoch(), pc = c.epoch();
  bool differ = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    CHECK(pa[i].rows == pb[i].rows);
    differ = differ || pa[i].rows != pc[i].rows;
  }
  CHECK(differ);

  // Mid-epoch checkpoint.
  a.begin_epoch();
  for (int i = 0; i < 4; ++i) a.next();
  const std::string state = a.state();
  std::vector<PlannedBatch> continued;
  for (int i = 0; i < 30; ++i) continued.push_back(a.next());
  TaskSampler resumed(samples, iota(90), 7, 999);  // another seed: the state replaces it
  resumed.set_state(state);
  for (int i = 0; i < 30; ++i) {
    PlannedBatch r = resumed.next();
    CHECK(r.task == continued[size_t(i)].task);
    CHECK(r.rows == continued[size_t(i)].rows);
  }
  TaskSampler other_batch(samples, iota(90), 8, 11);
  CHECK_THROWS_WITH_AS(other_batch.set_state(state), doctest::Contains("TaskSampler::set_state"), Error);
  TaskSampler other_rows(samples, iota(60), 7, 11);
  CHECK_THROWS_AS(other_rows.set_state(state), Error);
  CHECK_THROWS_WITH_AS(resumed.set_state("{"), doctest::Contains("not valid JSON"), Error);
  CHECK_THROWS_WITH_AS(TaskSampler(samples, {}, 7, 1), doctest::Contains("no training rows"), Error);
}

TEST_CASE("sequential_plan: chunks in order, split by task") {
  std::vector<Sample> samples = samples_with_tasks({0, 1, 0, 2, 1, 1, 0, 2, 2, 0});
  std::vector<PlannedBatch> plan = sequential_plan(samples, iota(10), 4);
  // chunks {0,1,2,3} {4,5,6,7} {8,9}
  REQUIRE(plan.size() == 8);
  CHECK(plan[0].task == 0);
  CHECK(plan[0].rows == std::vector<int64_t>{0, 2});
  CHECK(plan[1].rows == std::vector<int64_t>{1});
  CHECK(plan[2].rows == std::vector<int64_t>{3});
  CHECK(plan[3].rows == std::vector<int64_t>{4, 5});
  CHECK(plan[4].rows == std::vector<int64_t>{6});
  CHECK(plan[5].rows == std::vector<int64_t>{7});
  CHECK(plan[6].rows == std::vector<int64_t>{8});
  CHECK(plan[7].task == 0);
  CHECK(plan[7].rows == std::vector<int64_t>{9});
}
