// fn-runner-soak: the real runner (sandbox on) under steady load for a long
// time, watching the supervisor from outside for growth. `concurrency` call
// threads keep calls going: hot http-stream echo calls (the native
// fn-test-hsfunc, one slot key, so hot containers serve call after call)
// and every `cold-every`-th call a default-format call (a fresh container).
// Every `sample` seconds the supervisor's RSS (VmRSS) and open fd count are
// printed.
//
// Judged: every call succeeds and echoes its body; after the warm-up, the
// samples are cut in thirds and the largest RSS of the last third may not
// exceed the largest of the first third by more than max(rss-allow-kib,
// rss-allow-pct %), nor the median count of fds beyond the two each live
// worker holds (its socket and pidfd) that of the first third by more than
// fd-noise (a sample can catch a worker half torn down; a leak moves the
// median); and, strictly, at two quiet points (load paused, idle containers
// reaped: after the warm-up and at the end) the supervisor's fds must be
// exactly the same and nothing may be left (ledger, processes, cgroups,
// scratch). Then SIGTERM: exit 0, nothing left. Exit 0 when all holds, 1
// otherwise, 77 when skipped (not root).
//
// Flags (--name=value): duration (600 s, warm-up included), warmup (60 s),
// sample (10 s), concurrency (16), cold-every (8), rss-allow-kib (4096),
// rss-allow-pct (10), fd-noise (4), idle-timeout (2 s).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/lb_client.h"
#include "tests/chaos/chaos_runner.h"
#include "tests/chaos/flags.h"
#include "tests/chaos/leak_check.h"
#include "tests/chaos/process_tree.h"
#include "tests/chaos/program.h"

namespace fnr::chaos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kCallMib = 64;
constexpr int kCallTimeoutS = 10;
// The supervisor holds a socket and a pidfd per worker (spare or not).
constexpr int kFdsPerWorker = 2;

struct Settings {
  seconds duration{600};
  seconds warmup{60};
  seconds sample{10};
  uint64_t concurrency = 16;
  uint64_t cold_every = 8;
  uint64_t rss_allow_kib = 4096;
  uint64_t rss_allow_pct = 10;
  int fd_noise = 4;
  uint32_t idle_timeout_s = 2;
};

struct Sample {
  double t_s = 0;
  uint64_t rss_kib = 0;
  int fds = 0;
  int workers = 0;  // pidfds the supervisor holds: one per live worker
  // fds minus the two each live worker holds (its socket and pidfd): what
  // does not come and go with containers, so growth in it is a leak.
  int other_fds = 0;
  uint64_t calls = 0;
};

// The call threads; pause() waits until none is in a call.
class Load {
 public:
  Load(client::LbClient& lb, const Settings& s, const std::string& marker)
      : lb_(lb), s_(s), marker_(marker) {}
  ~Load() { stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void start() {
    for (uint64_t t = 0; t < s_.concurrency; ++t) threads_.emplace_back([this, t] { run(t); });
  }
  void pause() {
    std::unique_lock<std::mutex> lock(mu_);
    paused_ = true;
    idle_.wait(lock, [this] { return busy_ == 0; });
  }
  void resume() {
    {
      const std::lock_guard<std::mutex> lock(mu_);
      paused_ = false;
    }
    go_.notify_all();
  }
  void stop() {
    {
      const std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    go_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  [[nodiscard]] uint64_t calls() const { return calls_; }
  [[nodiscard]] uint64_t cold_calls() const { return cold_; }
  [[nodiscard]] uint64_t failures() const { return failures_; }
  [[nodiscard]] std::vector<std::string> first_failures() const {
    const std::lock_guard<std::mutex> lock(mu_);
    return first_failures_;
  }

 private:
  void run(uint64_t thread) {
    std::mt19937_64 rng(thread);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        go_.wait(lock, [this] { return stopping_ || !paused_; });
        if (stopping_) return;
        ++busy_;
      }
      const uint64_t n = issued_++;
      const bool cold = s_.cold_every != 0 && n % s_.cold_every == 0;
      const CallPlan plan =
          make_call(cold ? Format::kDefault : Format::kHttpStream, marker_, 0, 0,
                    text_body(rng, 64 + rng() % 2048), s_.idle_timeout_s, kCallTimeoutS, kCallMib);
      client::CallOptions o;
      o.deadline = milliseconds((kCallTimeoutS + 10) * 1000);
      const Judgement j = judge(plan, lb_.engage(plan.json, plan.body, o));
      ++calls_;
      if (cold) ++cold_;
      const std::lock_guard<std::mutex> lock(mu_);
      if (j.ending != Ending::kOk) {
        ++failures_;
        if (first_failures_.size() < 10) {
          first_failures_.push_back(std::string(ending_name(j.ending)) + ": " + j.why);
        }
      }
      if (--busy_ == 0) idle_.notify_all();
    }
  }

  client::LbClient& lb_;
  const Settings& s_;
  const std::string marker_;
  mutable std::mutex mu_;
  std::condition_variable go_, idle_;
  bool paused_ = false;
  bool stopping_ = false;
  int busy_ = 0;
  std::atomic<uint64_t> issued_{0}, calls_{0}, cold_{0}, failures_{0};
  std::vector<std::string> first_failures_;
  std::vector<std::thread> threads_;
};

// Polls `leaks` until it finds none or `timeout` passes; the last findings.
template <typename F>
std::vector<std::string> settle(F leaks, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<std::string> found = leaks();
    if (found.empty() || Clock::now() >= deadline) return found;
    std::this_thread::sleep_for(milliseconds(100));  // polling: no event for "nothing left"
  }
}

template <typename T, typename Get>
T max_of(const std::vector<Sample>& v, size_t from, size_t to, Get get) {
  T m{};
  for (size_t i = from; i < to && i < v.size(); ++i) m = std::max<T>(m, get(v[i]));
  return m;
}

// The median: a worker caught between closing its socket and its pidfd
// moves one sample, a leak moves them all.
template <typename Get>
int median_of(const std::vector<Sample>& v, size_t from, size_t to, Get get) {
  std::vector<int> xs;
  for (size_t i = from; i < to && i < v.size(); ++i) xs.push_back(get(v[i]));
  if (xs.empty()) return 0;
  std::nth_element(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(xs.size() / 2), xs.end());
  return xs[xs.size() / 2];
}

int run(const Settings& s) {
  std::printf(
      "fn-runner-soak: %llds (warm-up %llds) at concurrency %llu, 1 in %llu calls cold, "
      "sampling every %llds\n",
      static_cast<long long>(s.duration.count()), static_cast<long long>(s.warmup.count()),
      static_cast<unsigned long long>(s.concurrency), static_cast<unsigned long long>(s.cold_every),
      static_cast<long long>(s.sample.count()));
  std::fflush(stdout);
  ChaosRunner runner(ChaosRunnerOptions{});
  std::string error;
  if (!runner.start(&error)) {
    std::fprintf(stderr, "FAIL: the runner did not start: %s\n", error.c_str());
    return 1;
  }
  auto lb = runner.harness().lb(client::LbMode::kMay);
  if (!lb) return 1;
  (void)runner.harness().status();
  const pid_t sup = runner.pid();
  std::vector<std::string> failures;
  std::vector<Sample> samples;
  const auto t0 = Clock::now();
  const auto take_sample = [&](Load& load) {
    Sample x;
    x.t_s = std::chrono::duration<double>(Clock::now() - t0).count();
    x.rss_kib = rss_kib(sup);
    // One listing: fds and workers counted at the same instant.
    const FdKinds k = fd_kinds(sup);
    x.fds = k.total;
    x.workers = k.pidfds;
    x.other_fds = x.fds - kFdsPerWorker * x.workers;
    x.calls = load.calls();
    std::printf("sample t=%6.1fs rss=%6llu KiB fds=%3d workers=%2d other fds=%3d calls=%llu\n",
                x.t_s, static_cast<unsigned long long>(x.rss_kib), x.fds, x.workers, x.other_fds,
                static_cast<unsigned long long>(x.calls));
    std::fflush(stdout);
    return x;
  };

  Load load(*lb, s, runner.marker());
  load.start();
  // Sampling runs on a fixed clock; the load is what we wait on between.
  auto next = Clock::now();
  while (Clock::now() - t0 < s.warmup) {
    next += s.sample;
    std::this_thread::sleep_until(next);
    (void)take_sample(load);
  }
  load.pause();
  std::vector<std::string> quiet1 =
      settle([&] { return leaks_while_idle(runner, nullptr); }, seconds(60));
  failures.reserve(failures.size() + quiet1.size());
  for (const std::string& l : quiet1) failures.push_back("after the warm-up, not idle: " + l);
  const FdBaseline baseline = fd_baseline(sup);
  const uint64_t rss_quiet1 = rss_kib(sup);
  std::printf("quiet after warm-up: fds %d, rss %llu KiB\n", baseline.count,
              static_cast<unsigned long long>(rss_quiet1));
  load.resume();
  const uint64_t calls_at_warmup = load.calls();
  const auto steady_t0 = Clock::now();
  next = Clock::now();
  while (Clock::now() - t0 < s.duration) {
    next += s.sample;
    std::this_thread::sleep_until(next);
    samples.push_back(take_sample(load));
  }
  const double steady_s = std::chrono::duration<double>(Clock::now() - steady_t0).count();
  load.pause();
  const uint64_t steady_calls = load.calls() - calls_at_warmup;
  std::vector<std::string> leaks =
      settle([&] { return leaks_while_idle(runner, &baseline); }, seconds(60));
  const uint64_t rss_quiet2 = rss_kib(sup);
  const int fds_quiet2 = fd_count(sup);
  std::printf("quiet at the end: fds %d, rss %llu KiB\n", fds_quiet2,
              static_cast<unsigned long long>(rss_quiet2));
  load.stop();

  // Growth: the first third of the steady samples against the last third.
  const size_t n = samples.size();
  if (n < 3) failures.push_back("fewer than 3 samples after the warm-up; run longer");
  const size_t third = n / 3;
  const auto rss = [](const Sample& x) { return x.rss_kib; };
  const auto fds = [](const Sample& x) { return x.other_fds; };
  const uint64_t rss_first = max_of<uint64_t>(samples, 0, third, rss);
  const uint64_t rss_last = max_of<uint64_t>(samples, n - third, n, rss);
  const int fds_first = median_of(samples, 0, third, fds);
  const int fds_last = median_of(samples, n - third, n, fds);
  const int fds_max = max_of<int>(samples, 0, n, fds);
  const uint64_t rss_allow = std::max(s.rss_allow_kib, rss_first * s.rss_allow_pct / 100);
  if (n >= 3 && rss_last > rss_first + rss_allow) {
    failures.push_back("RSS grew: max " + std::to_string(rss_first) + " KiB in the first third, " +
                       std::to_string(rss_last) + " KiB in the last (allowed +" +
                       std::to_string(rss_allow) + ")");
  }
  if (n >= 3 && fds_last > fds_first + s.fd_noise) {
    failures.push_back("fds (beyond workers') grew: median " + std::to_string(fds_first) +
                       " in the first third, " + std::to_string(fds_last) +
                       " in the last (allowed +" + std::to_string(s.fd_noise) + ")");
  }
  if (load.failures() != 0) {
    failures.push_back(std::to_string(load.failures()) + " calls did not succeed");
    for (const std::string& f : load.first_failures()) failures.push_back("  " + f);
  }
  if (::kill(sup, 0) != 0) failures.push_back("the supervisor died");
  lb.reset();  // first: see chaos_main.cc
  const std::optional<int> exit = runner.harness().stop(seconds(30));
  const ::testing::AssertionResult clean = e2e::exited_cleanly(exit);
  if (!clean) failures.push_back(std::string("stop (SIGTERM): ") + clean.message());
  for (const std::string& l : settle([&] { return leaks_after_exit(runner); }, seconds(10))) {
    leaks.push_back("after exit: " + l);
  }
  if (::testing::UnitTest::GetInstance()->ad_hoc_test_result().Failed()) {
    failures.push_back("the harness reported failures (above)");
  }

  std::printf("\n== fn-runner-soak summary ==\n");
  std::printf("calls: %llu (%llu cold), %llu in the %.0f s after warm-up (%.0f/s), failed %llu\n",
              static_cast<unsigned long long>(load.calls()),
              static_cast<unsigned long long>(load.cold_calls()),
              static_cast<unsigned long long>(steady_calls), steady_s,
              static_cast<double>(steady_calls) / std::max(1.0, steady_s),
              static_cast<unsigned long long>(load.failures()));
  std::printf(
      "RSS KiB: max first third %llu, max last third %llu (allowed +%llu); quiet %llu -> "
      "%llu\n",
      static_cast<unsigned long long>(rss_first), static_cast<unsigned long long>(rss_last),
      static_cast<unsigned long long>(rss_allow), static_cast<unsigned long long>(rss_quiet1),
      static_cast<unsigned long long>(rss_quiet2));
  std::printf(
      "fds beyond 2 per worker: median first third %d, median last third %d (allowed +%d), max "
      "%d; all fds when quiet %d -> %d\n",
      fds_first, fds_last, s.fd_noise, fds_max, baseline.count, fds_quiet2);
  return print_verdict(leaks, failures);
}

}  // namespace
}  // namespace fnr::chaos

int main(int argc, char** argv) {
  fnr::chaos::Settings s;
  return fnr::chaos::run_program(
      "fn-runner-soak", argc, argv,
      [&s](const fnr::chaos::Flags& flags) {
        s.duration = std::chrono::seconds(flags.get("duration", 600));
        s.warmup = std::chrono::seconds(flags.get("warmup", 60));
        s.sample = std::chrono::seconds(std::max<uint64_t>(1, flags.get("sample", 10)));
        s.concurrency = std::max<uint64_t>(1, flags.get("concurrency", s.concurrency));
        s.cold_every = flags.get("cold-every", s.cold_every);
        s.rss_allow_kib = flags.get("rss-allow-kib", s.rss_allow_kib);
        s.rss_allow_pct = flags.get("rss-allow-pct", s.rss_allow_pct);
        s.fd_noise = static_cast<int>(flags.get("fd-noise", 4));
        s.idle_timeout_s = static_cast<uint32_t>(flags.get("idle-timeout", s.idle_timeout_s));
      },
      [&s] { return fnr::chaos::run(s); });
}
