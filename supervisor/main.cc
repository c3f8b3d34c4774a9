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
#include "supervisor/config_reload.h"
#include "supervisor/control_socket.h"
#include "supervisor/cq_thread.h"
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

// SIGHUP reloads (systemd's Type=notify-reload protocol around it); SIGTERM
// or SIGINT is returned.
int wait_for_stop(const sigset_t& set, fnr::RunnerContext& ctx, fnr::ServerTls* server_tls,
                  const std::vector<std::string>& args) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading the configuration");
      fnr::sd::notify_reloading();
      fnr::reload_config(ctx, server_tls, args);
      fnr::sd::notify_ready(ctx.draining.load() ? "draining" : "serving");
      continue;
    }
    return sig;
  }
}

// How often systemd hears that a long drain still progresses. 5 s in
// service; FNR_SD_EXTEND_PERIOD_MS (undocumented) shortens it for tests.
std::chrono::milliseconds extend_period() {
  const char* v = std::getenv("FNR_SD_EXTEND_PERIOD_MS");
  if (v != nullptr) {
    const long ms = std::strtol(v, nullptr, 10);  // NOLINT(google-runtime-int)
    if (ms > 0 && ms <= 5000) return std::chrono::milliseconds(ms);
  }
  return std::chrono::seconds(5);
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
  ctx.stopping.store(true);
  ctx.draining.store(true);
  fnr::sd::notify_stopping();
  const std::shared_ptr<const fnr::Config> config = ctx.config.get();
  const auto deadline =
      std::chrono::system_clock::now() + std::chrono::seconds(config->drain_timeout_s);
  spdlog::info("draining: no new calls; in-flight calls have {}s to finish",
               config->drain_timeout_s);
  // Shutdown returns once in-flight calls are done or the deadline cancelled
  // them; meanwhile systemd hears every 5 s that the stop is progressing.
  auto shutdown =
      std::async(std::launch::async, [&server, deadline] { server.Shutdown(deadline); });
  const std::chrono::milliseconds period = extend_period();
  while (shutdown.wait_for(period) != std::future_status::ready) {
    fnr::sd::notify_extend_timeout(std::chrono::seconds(10));
  }
  shutdown.get();
  const std::chrono::milliseconds grace(config->kill_grace_ms);
  fnr::sd::notify_extend_timeout(grace * 2 + std::chrono::seconds(10));
  ctx.loop->post([&ctx, grace] {
    const std::vector<fnr::Engagement*> running(ctx.with_worker.begin(), ctx.with_worker.end());
    for (auto* e : running) e->abort_call(503, "runner shutting down");
    ctx.pool->shut_down_all(grace);
  });
  std::unique_lock<std::mutex> lock(ctx.workers_mu);
  ctx.workers_cv.wait_for(lock, grace * 2, [&ctx] { return ctx.live_workers == 0; });
  if (ctx.live_workers != 0) spdlog::error("{} workers did not exit in time", ctx.live_workers);
  lock.unlock();
  clear_pool(ctx);
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t control = block_control_signals();
  // Kept for SIGHUP, which loads the configuration exactly as here.
  const std::vector<std::string> args(argv + 1, argv + argc);
  fnr::ConfigLoad loaded = fnr::load_config(args);
  if (!loaded.config) {
    fprintf(stderr, "fn-runner: %s\n", loaded.error.c_str());
    return 2;
  }
  auto start_config = std::make_shared<fnr::Config>(std::move(*loaded.config));
  fnr::resolve_paths(*start_config);
  // What the process is built from (listener, ledger, sandbox): never
  // reloaded. Per-call settings come from ctx.config.get().
  const fnr::Config& config = *start_config;
  fnr::RunnerContext ctx;
  ctx.config.set(start_config);
  fnr::init_logging("supervisor", config.log_level);
  ctx.worker_path = config.worker_path.empty() ? default_worker_path() : config.worker_path;
  if (access(ctx.worker_path.c_str(), X_OK) != 0) {
    spdlog::critical("worker binary '{}' is not executable", ctx.worker_path);
    return 2;
  }
  // Unreadable or mismatched certificates are a configuration error too:
  // refused before anything is created.
  std::unique_ptr<fnr::ServerTls> server_tls;
  if (config.tls.enabled()) {
    try {
      server_tls = std::make_unique<fnr::ServerTls>(config.tls);
    } catch (const std::exception& ex) {
      spdlog::critical("config: {}", ex.what());
      return 2;
    }
  }

  try {
    std::string lock_error;
    const fnr::UniqueFd instance_lock =
        fnr::lock_instance(config.sandbox.runtime_dir, config.ledger_name, &lock_error);
    if (!instance_lock) {
      spdlog::critical("{}", lock_error);
      return 2;
    }
    ctx.runtime_dir = config.sandbox.runtime_dir + "/" + config.ledger_name;
    fnr::UniqueFd seccomp_fd;
    if (config.sandbox.enabled) {
      ctx.cgroups = fnr::CgroupLayout::prepare(config.ledger_name);
      // Above the fds workers receive it on (3, 4), see spawn_worker().
      fnr::UniqueFd memfd = fnr::seccomp_policy_memfd(fnr::compile_seccomp_policy());
      seccomp_fd.reset(fcntl(memfd.get(), F_DUPFD_CLOEXEC, 5));
      ctx.seccomp_fd = seccomp_fd.get();
      spdlog::info("sandbox: cgroup v{} under {}, functions run as {}:{}, network {}",
                   ctx.cgroups.version, ctx.cgroups.bases.front(), config.sandbox.uid,
                   config.sandbox.gid, config.sandbox.host_network ? "host" : "private");
    } else {
      spdlog::warn("sandbox disabled: functions run as plain child processes, NOT isolated");
    }
    ctx.instance_id =
        fmt::format("{:x}", std::chrono::system_clock::now().time_since_epoch().count() ^ getpid());
    fnr::clean_previous_run(config.ledger_name, ctx.cgroups, ctx.runtime_dir);
    const uint64_t total_mib = total_capacity_mib(config);
    auto ledger = fnr::Ledger::create(config.ledger_name, total_mib, config.ledger_entries);
    ctx.ledger = ledger.get();
    // Before any thread starts, so that failing here has nothing to unwind;
    // and up before the gRPC port opens, by the time anyone sees us ready.
    std::unique_ptr<fnr::MetricsServer> metrics_server;
    if (!config.metrics_address.empty()) {
      std::string error;
      metrics_server = fnr::MetricsServer::start(
          config.metrics_address,
          [&ctx] {
            return ctx.metrics.render(
                {ctx.ledger->total_mib() << 20, ctx.ledger->reserved_mib() << 20});
          },
          &error);
      if (!metrics_server) {
        spdlog::critical("metrics: {}", error);
        return 1;
      }
      spdlog::info("metrics on http://{}/metrics (port {})", config.metrics_address,
                   metrics_server->port());
    }
    fnr::EventLoop loop;
    ctx.loop = &loop;
    fnr::WorkerPool pool(ctx);
    ctx.pool = &pool;
    fnr::ControlSocket control_socket(
        ctx, fnr::control_socket_path(config.sandbox.runtime_dir, config.ledger_name));
    loop.start();
    loop.post([&pool] { pool.start(); });
    control_socket.start();
    fnr::sd::Watchdog watchdog(loop);

    fnr::RunnerService service(ctx);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(config.grpc_address,
                             fnr::make_server_credentials(config.tls, server_tls.get()), &port);
    builder.RegisterService(&service);
    std::vector<std::unique_ptr<fnr::CqThread>> cq_threads;
    for (uint32_t i = 0; i < config.grpc_threads; ++i) {
      cq_threads.push_back(std::make_unique<fnr::CqThread>(builder));
    }
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server || port == 0) {
      spdlog::critical("cannot listen on {}", config.grpc_address);
      if (server) server->Shutdown();
      for (auto& t : cq_threads) t->stop();
      control_socket.stop();
      clear_pool(ctx);
      watchdog.stop();
      loop.stop();
      fnr::Ledger::remove(config.ledger_name);
      fnr::remove_instance(ctx.cgroups, ctx.runtime_dir);
      return 1;
    }
    for (auto& t : cq_threads) {
      service.serve(t->cq());
      t->start();
    }
    spdlog::info("fn-runner listening on {} (port {}), capacity {} MiB, images in {}",
                 config.grpc_address, port, total_mib, config.images_dir);
    fnr::sd::notify_ready(
        fmt::format("listening on {}, capacity {} MiB", config.grpc_address, total_mib));

    const int sig = wait_for_stop(control, ctx, server_tls.get(), args);
    spdlog::info("{} received", strsignal(sig));
    drain(ctx, *server);
    server->Wait();
    for (auto& t : cq_threads) t->stop();
    control_socket.stop();
    watchdog.stop();
    loop.stop();
    fnr::Ledger::remove(config.ledger_name);
    fnr::remove_instance(ctx.cgroups, ctx.runtime_dir);
    spdlog::info("stopped");
  } catch (const std::exception& ex) {
    spdlog::critical("fatal: {}", ex.what());
    return 1;
  }
  return 0;
}
