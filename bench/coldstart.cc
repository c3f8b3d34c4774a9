#include "bench/coldstart.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "bench/coldstart_call.h"
#include "bench/coldstart_image.h"
#include "bench/coldstart_report.h"
#include "bench/coldstart_yardsticks.h"
#include "bench/runner_process.h"
#include "bench/spawn_timer.h"
#include "bench/temp_dir.h"
#include "shared/image_store.h"

namespace fnr::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kRunnerStartTimeout = std::chrono::seconds(20);

std::string beside_self(const char* name) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ((ec ? std::filesystem::path(".") : self.parent_path()) / name).string();
}

// The echo image, imported under a ref of this run; removed again (with
// its content once unused) when the store is not the bench's own.
class ImportedImage {
 public:
  ImportedImage(const std::string& images_dir, const std::string& layout, bool remove_after)
      : store_(images_dir),
        ref_("fnr-bench/coldstart-echo:" + std::to_string(getpid())),
        image_(store_.import(layout, ref_)),
        remove_after_(remove_after) {}
  ~ImportedImage() {
    if (!remove_after_) return;
    try {
      store_.remove(ref_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fn-runner-bench: removing %s: %s\n", ref_.c_str(), e.what());
    }
  }
  ImportedImage(const ImportedImage&) = delete;
  ImportedImage& operator=(const ImportedImage&) = delete;

  [[nodiscard]] const std::string& ref() const { return ref_; }
  [[nodiscard]] const StoredImage& image() const { return image_; }

 private:
  ImageStore store_;
  std::string ref_;
  StoredImage image_;
  bool remove_after_;
};

// Connects to the runner, watching that one we started does not die first.
std::unique_ptr<client::LbClient> connect(const Options& o, const std::string& target,
                                          RunnerProcess* runner, std::string* error) {
  auto lb = client::LbClient::create({.target = target,
                                      .mode = client::LbMode::kMay,
                                      .tls = o.tls,
                                      .deadline = std::chrono::seconds(o.timeout_s)},
                                     error);
  if (!lb) return nullptr;
  const auto deadline = Clock::now() + kRunnerStartTimeout;
  while (!lb->wait_connected(std::chrono::milliseconds(250))) {
    if (runner != nullptr && !runner->alive()) {
      *error = "fn-runner exited while starting:\n" + runner->log_tail();
      return nullptr;
    }
    if (Clock::now() > deadline) {
      *error = "cannot connect to the runner at " + target;
      return nullptr;
    }
  }
  return lb;
}

void print_setup(const ImportedImage& image, const std::string& target, uint64_t rounds,
                 const Options& o) {
  std::printf("coldstart_image: %s\n", image.ref().c_str());
  std::printf("coldstart_rootfs: %s\n", image.image().rootfs.c_str());
  std::printf("coldstart_runner: %s\n", target.c_str());
  std::printf("coldstart_rounds: %llu\n", static_cast<unsigned long long>(rounds));
  std::printf("coldstart_body_bytes: %zu\n", o.size);
  std::printf("coldstart_memory_mib: %u\n", o.memory_mib);
}

// Unmeasured rounds (page cache, the runner's first-call paths). A
// contender that fails here is reported unavailable rather than measured;
// false if that was the runner.
bool warm_up(const std::array<Contender*, 4>& contenders, uint64_t rounds,
             const Contender& runner) {
  for (uint64_t w = 0; w < rounds; ++w) {
    for (Contender* c : contenders) {
      if (!c->series.unavailable.empty() || !c->run) continue;
      const SpawnRun r = c->run(1000000 + w);
      if (!r.ok) c->series.unavailable = "failed while warming up: " + r.error;
    }
  }
  return runner.series.unavailable.empty();
}

// Measured rounds, each contender once a round, the order rotating so that
// none always follows the runner's asynchronous teardown. Returns the
// rounds done (fewer than --n when --duration ran out).
uint64_t measure(const std::array<Contender*, 4>& contenders, const Options& o,
                 const Contender& runner) {
  const Clock::time_point end = Clock::now() + o.duration;
  uint64_t rounds = 0;
  for (; rounds < o.calls && Clock::now() < end; ++rounds) {
    for (size_t k = 0; k < contenders.size(); ++k) {
      Contender* c = contenders[(rounds + k) % contenders.size()];
      if (!c->series.unavailable.empty() || !c->run) continue;
      const SpawnRun r = c->run(rounds);
      if (c != &runner) c->series.add(r.ok, r.ns, r.error);
    }
  }
  return rounds;
}

}  // namespace

int run_coldstart(const Options& o) {
  // A helper that dies must not take the bench with it on a write.
  signal(SIGPIPE, SIG_IGN);
  TempDir work("fnr-bench-coldstart");
  if (!work.valid()) {
    std::perror("fn-runner-bench: mkdtemp");
    return 1;
  }
  const bool own_runner = o.addr.empty();
  const std::string images_dir = own_runner ? work / "images" : o.images_dir;

  // Everything that forks or needs one thread comes before any gRPC object.
  std::optional<ImportedImage> image;
  try {
    const std::string layout = work / "layout";
    write_echo_image_layout(
        layout,
        {.busybox = "/bin/busybox",
         .function = o.function_path.empty() ? beside_self("fn-test-func") : o.function_path});
    image.emplace(images_dir, layout, !own_runner);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fn-runner-bench: %s (the image needs busybox-static and fn-test-func)\n",
                 e.what());
    return 1;
  }
  Yardsticks yardsticks(work.path(), image->image().rootfs);

  // The runner, and a connection to it.
  std::unique_ptr<RunnerProcess> runner;
  std::string target = o.addr;
  if (own_runner) {
    std::string error;
    runner = RunnerProcess::start(
        {.program = o.runner_path.empty() ? beside_self("fn-runner") : o.runner_path,
         .images_dir = images_dir,
         .log_path = work / "runner.log",
         .log_level = o.runner_log_level},
        &error);
    if (!runner) {
      std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
      return 1;
    }
    target = runner->address();
  }
  std::string error;
  const std::unique_ptr<client::LbClient> lb = connect(o, target, runner.get(), &error);
  if (!lb) {
    std::fprintf(stderr, "fn-runner-bench: %s\n", error.c_str());
    return 1;
  }
  ColdCaller caller(*lb, o, image->ref());
  Series first_byte("runner_first_byte");
  Series result_start("runner_result_start");
  Series total("runner_total");
  Contender c_runner{Series("runner"), [&](uint64_t seq) {
                       const ColdCallTimes t = caller.call(seq);
                       first_byte.add(t.ok, t.first_byte_ns, t.error);
                       result_start.add(t.ok, t.result_start_ns, t.error);
                       total.add(t.ok, t.total_ns, t.error);
                       return SpawnRun{.ns = t.first_byte_ns, .ok = t.ok, .error = t.error};
                     }};

  // The runner's contender fills three series itself (its own stays empty).
  const std::array<Contender*, 4> contenders = {&c_runner, &yardsticks.runc, &yardsticks.crun,
                                                &yardsticks.spawn};
  if (!warm_up(contenders, o.warmup, c_runner)) {
    std::fprintf(stderr, "fn-runner-bench: the runner's cold call %s\n",
                 c_runner.series.unavailable.c_str());
    if (runner) std::fprintf(stderr, "runner log:\n%s\n", runner->log_tail().c_str());
    return 1;
  }
  first_byte = Series("runner_first_byte");
  result_start = Series("runner_result_start");
  total = Series("runner_total");
  const uint64_t rounds = measure(contenders, o, c_runner);

  for (Series* s : {&first_byte, &result_start, &total, &yardsticks.runc.series,
                    &yardsticks.crun.series, &yardsticks.spawn.series}) {
    s->finish();
  }
  print_setup(*image, target, rounds, o);
  for (const Series* s : {&first_byte, &result_start, &total, &yardsticks.runc.series,
                          &yardsticks.crun.series, &yardsticks.spawn.series}) {
    print_series(*s);
  }
  print_ratios("first_byte_to_runc", first_byte, yardsticks.runc.series);
  print_ratios("first_byte_to_crun", first_byte, yardsticks.crun.series);
  print_ratios("first_byte_to_spawn", first_byte, yardsticks.spawn.series);
  print_ratios("total_to_runc", total, yardsticks.runc.series);
  print_ratios("total_to_crun", total, yardsticks.crun.series);
  std::fflush(stdout);
  return first_byte.result.errors == 0 && first_byte.result.ok > 0 ? 0 : 1;
}

}  // namespace fnr::bench
