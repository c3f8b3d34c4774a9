#include "worker/container.h"

#include <spdlog/spdlog.h>

#include "shared/image_store.h"
#include "worker/container_ready.h"

namespace fnr {
namespace {

CgroupLayout layout_of(const wire::SandboxSettings& sb) {
  CgroupLayout l;
  l.version = static_cast<int>(sb.cgroup_version());
  l.bases.assign(sb.cgroup_bases().begin(), sb.cgroup_bases().end());
  return l;
}

// Entrypoint + Cmd, as Docker and OCI runtimes combine them.
std::vector<std::string> command_of(const ImageConfig& config) {
  std::vector<std::string> argv = config.entrypoint;
  argv.insert(argv.end(), config.cmd.begin(), config.cmd.end());
  return argv;
}

}  // namespace

std::unique_ptr<Container> Container::start(uv_loop_t* loop, const wire::CallSpec& spec,
                                            const std::vector<sock_filter>& seccomp,
                                            const EnvBuilder& env,
                                            std::function<void(ExitStatus)> on_exit,
                                            ContainerError* error,
                                            const std::vector<BindMount>& binds) {
  note_container_starting();
  std::string why;
  const ImageStore store(spec.images_dir());
  const auto image = store.resolve(spec.image(), &why);
  if (!image) {
    *error = {502, why};
    return nullptr;
  }
  LaunchSpec launch;
  launch.argv = command_of(image->config);
  launch.env = env(image->config.env);
  if (launch.argv.empty()) {
    *error = {502, "image " + spec.image() + " has no entrypoint or command"};
    return nullptr;
  }

  std::unique_ptr<Container> c(new Container());
  const wire::SandboxSettings& sb = spec.sandbox();
  try {
    if (!sb.enabled()) {
      // Development mode: the image's command runs on the host, unconfined.
      if (launch.argv[0].rfind('/', 0) == 0) launch.argv[0] = image->rootfs + launch.argv[0];
      launch.path = launch.argv[0];
      launch.cwd = image->rootfs;
      c->process_ = ChildProcess::launch(loop, launch, nullptr, std::move(on_exit));
      return c;
    }
    if (sb.cgroup_version() != 0) {
      CgroupLimits limits{static_cast<uint64_t>(spec.memory_mib()) << 20, sb.pids_max(),
                          spec.cpus_milli()};
      c->cgroup_ = Cgroup::create(layout_of(sb), sb.id(), limits);
    }
    SandboxSpec s;
    s.rootfs = image->rootfs;
    s.workdir = image->config.working_dir.empty() ? "/" : image->config.working_dir;
    s.uid = sb.uid();
    s.gid = sb.gid();
    s.share_host_network = sb.host_network();
    s.tmpfs_mib = spec.tmpfs_mib() != 0 ? spec.tmpfs_mib() : sb.tmpfs_mib();
    s.nofile = sb.nofile();
    s.seccomp = &seccomp;
    s.binds = binds;
    std::vector<UniqueFd> procs;
    if (c->cgroup_) procs = c->cgroup_->open_procs();
    for (const auto& fd : procs) s.cgroup_procs_fds.push_back(fd.get());
    c->process_ = ChildProcess::launch(loop, launch, &s, std::move(on_exit));
  } catch (const SandboxError& e) {
    *error = {e.user_fault() ? 502 : 500, e.what()};
    return nullptr;
  } catch (const std::exception& e) {
    *error = {500, std::string("container start failed: ") + e.what()};
    return nullptr;
  }
  return c;
}

void Container::kill() {
  if (process_) process_->kill_group();
  if (cgroup_) cgroup_->kill_all();
}

Container::~Container() {
  process_.reset();  // kills and reaps the init if still running
  cgroup_.reset();   // kills stragglers, removes the directories
}

}  // namespace fnr
