// fn-runner: the supervisor. Owns the gRPC listener, the capacity ledger
// and the workers; never runs function code itself.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "shared/config.h"
#include "shared/ledger.h"
#include "shared/log.h"
#include "shared/seccomp_policy.h"
#include "supervisor/engagement.h"
#include "supervisor/event_loop.h"
#include "supervisor/metrics_server.h"
#include "supervisor/recovery.h"
#include "supervisor/runner_context.h"
#include "supervisor/runner_service.h"
#include "supervisor/sd_notify.h"
#include "supervisor/server_credentials.h"
#include "supervisor/worker_pool.h"

namespace {

std::string default_worker_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (ec ? std::filesystem::path(".") : self.parent_path()) / "fn-runner-worker";
}

uint64_t total_capacity_mib(const fnr::Config& config) {
  const uint64_t bytes = config.max_total_memory_bytes != 0 ? config.max_total_memory_bytes
                                                            : fnr::detect_total_memory_bytes();
  return bytes >> 20;
}

// Every thread inherits this mask, so these signals reach only sigwait().
sigset_t block_control_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

int wait_for_stop(const sigset_t& set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::warn("SIGHUP: configuration reload is not supported yet; ignoring");
      continue;
    }
    return sig;
  }
}

// Whatever workers are left are killed and reaped on the loop thread, so
// the loop can stop and the pool be destroyed without racing it.
void clear_pool(fnr::RunnerContext& ctx) {
  std::promise<void> cleared;
  ctx.loop->post([&ctx, &cleared] {
    ctx.pool->clear();
    cleared.set_value();
  });
  cleared.get_future().wait();
}

void drain(fnr::RunnerContext& ctx, grpc::Server& server) {
  ctx.draining.store(true);
  fnr::sd::notify_stopping();
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(ctx.config.drain_timeout_s);
  spdlog::info("draining: no new calls; in-flight calls have {}s to finish",
               ctx.config.drain_timeout_s);
  // Shutdown returns once in-flight calls are done or the deadline cancelled
  // them; meanwhile systemd hears every 5 s that the stop is progressing.
  auto shutdown =
      std::async(std::launch::async, [&server, deadline] { server.Shutdown(deadline); });
  while (shutdown.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    fnr::sd::notify_extend_timeout(std::chrono::seconds(10));
  }
  shutdown.get();
  fnr::sd::notify_extend_timeout(std::chrono::milliseconds(ctx.config.kill_grace_ms) * 2 +
                                 std::chrono::seconds(10));
  ctx.loop->post([&ctx] {
    const std::vector<fnr::Engagement*> running(ctx.with_worker.begin(), ctx.with_worker.end());
    for (auto* e : running) e->abort_call(503, "runner shutting down");
    ctx.pool->shut_down_all(std::chrono::milliseconds(ctx.config.kill_grace_ms));
  });
  std::unique_lock<std::mutex> lock(ctx.workers_mu);
  ctx.workers_cv.wait_for(lock, std::chrono::milliseconds(ctx.config.kill_grace_ms) * 2,
                          [&ctx] { return ctx.live_workers == 0; });
  if (ctx.live_workers != 0) spdlog::error("{} workers did not exit in time", ctx.live_workers);
  lock.unlock();
  clear_pool(ctx);
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t control = block_control_signals();
  fnr::ConfigLoad loaded = fnr::load_config(std::vector<std::string>(argv + 1, argv + argc));
  if (!loaded.config) {
    fprintf(stderr, "fn-runner: %s\n", loaded.error.c_str());
    return 2;
  }
  fnr::RunnerContext ctx;
  ctx.config = std::move(*loaded.config);
  fnr::init_logging("supervisor", ctx.config.log_level);
  ctx.worker_path = ctx.config.worker_path.empty() ? default_worker_path() : ctx.config.worker_path;
  if (access(ctx.worker_path.c_str(), X_OK) != 0) {
    spdlog::critical("worker binary '{}' is not executable", ctx.worker_path);
    return 2;
  }
  ctx.config.images_dir = std::filesystem::absolute(ctx.config.images_dir).string();

  try {
    std::string lock_error;
    const fnr::UniqueFd instance_lock =
        fnr::lock_instance(ctx.config.sandbox.runtime_dir, ctx.config.ledger_name, &lock_error);
    if (!instance_lock) {
      spdlog::critical("{}", lock_error);
      return 2;
    }
    ctx.runtime_dir = ctx.config.sandbox.runtime_dir + "/" + ctx.config.ledger_name;
    fnr::UniqueFd seccomp_fd;
    if (ctx.config.sandbox.enabled) {
      ctx.cgroups = fnr::CgroupLayout::prepare(ctx.config.ledger_name);
      // Above the fds workers receive it on (3, 4), see spawn_worker().
      fnr::UniqueFd memfd = fnr::seccomp_policy_memfd(fnr::compile_seccomp_policy());
      seccomp_fd.reset(fcntl(memfd.get(), F_DUPFD_CLOEXEC, 5));
      ctx.seccomp_fd = seccomp_fd.get();
      spdlog::info("sandbox: cgroup v{} under {}, functions run as {}:{}, network {}",
                   ctx.cgroups.version, ctx.cgroups.bases.front(), ctx.config.sandbox.uid,
                   ctx.config.sandbox.gid, ctx.config.sandbox.host_network ? "host" : "private");
    } else {
      spdlog::warn("sandbox disabled: functions run as plain child processes, NOT isolated");
    }
    ctx.instance_id =
        fmt::format("{:x}", std::chrono::system_clock::now().time_since_epoch().count() ^ getpid());
    fnr::clean_previous_run(ctx.config.ledger_name, ctx.cgroups, ctx.runtime_dir);
    const uint64_t total_mib = total_capacity_mib(ctx.config);
    auto ledger = fnr::Ledger::create(ctx.config.ledger_name, total_mib, ctx.config.ledger_entries);
    ctx.ledger = ledger.get();
    // Before any thread starts, so that failing here has nothing to unwind;
    // and up before the gRPC port opens, by the time anyone sees us ready.
    std::unique_ptr<fnr::MetricsServer> metrics_server;
    if (!ctx.config.metrics_address.empty()) {
      std::string error;
      metrics_server = fnr::MetricsServer::start(
          ctx.config.metrics_address,
          [&ctx] {
            return ctx.metrics.render(
                {ctx.ledger->total_mib() << 20, ctx.ledger->reserved_mib() << 20});
          },
          &error);
      if (!metrics_server) {
        spdlog::critical("metrics: {}", error);
        return 1;
      }
      spdlog::info("metrics on http://{}/metrics (port {})", ctx.config.metrics_address,
                   metrics_server->port());
    }
    fnr::EventLoop loop;
    ctx.loop = &loop;
    fnr::WorkerPool pool(ctx);
    ctx.pool = &pool;
    loop.start();
    loop.post([&pool] { pool.start(); });
    fnr::sd::Watchdog watchdog(loop);

    fnr::RunnerService service(ctx);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(ctx.config.grpc_address, fnr::make_server_credentials(ctx.config.tls),
                             &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || port == 0) {
      spdlog::critical("cannot listen on {}", ctx.config.grpc_address);
      clear_pool(ctx);
      watchdog.stop();
      loop.stop();
      fnr::Ledger::remove(ctx.config.ledger_name);
      fnr::remove_instance(ctx.cgroups, ctx.runtime_dir);
      return 1;
    }
    spdlog::info("fn-runner listening on {} (port {}), capacity {} MiB, images in {}",
                 ctx.config.grpc_address, port, total_mib, ctx.config.images_dir);
    fnr::sd::notify_ready(
        fmt::format("listening on {}, capacity {} MiB", ctx.config.grpc_address, total_mib));

    const int sig = wait_for_stop(control);
    spdlog::info("{} received", strsignal(sig));
    drain(ctx, *server);
    server->Wait();
    watchdog.stop();
    loop.stop();
    fnr::Ledger::remove(ctx.config.ledger_name);
    fnr::remove_instance(ctx.cgroups, ctx.runtime_dir);
    spdlog::info("stopped");
  } catch (const std::exception& ex) {
    spdlog::critical("fatal: {}", ex.what());
    return 1;
  }
  return 0;
}
