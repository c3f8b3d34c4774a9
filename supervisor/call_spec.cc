#include "supervisor/call_spec.h"

namespace fnr {

wire::CallSpec make_call_spec(const Call& call, const Config& config, const CgroupLayout& cgroups,
                              const std::string& sandbox_id, const std::string& runtime_dir,
                              std::chrono::system_clock::time_point received,
                              std::chrono::system_clock::time_point client_deadline) {
  wire::CallSpec s;
  s.set_id(call.id);
  s.set_app_id(call.app_id);
  s.set_app_name(call.app_name);
  s.set_fn_id(call.fn_id);
  s.set_path(call.path);
  s.set_image(call.image);
  // Current LBs send no format: their functions speak http-stream.
  s.set_format(call.format.empty() ? "http-stream" : call.format);
  s.set_type(call.type);
  s.set_timeout_s(call.timeout_s);
  s.set_idle_timeout_s(call.idle_timeout_s);
  s.set_memory_mib(call.memory_mib);
  s.set_cpus_milli(call.cpus_milli);
  s.set_tmpfs_mib(call.tmpfs_mib);
  for (const auto& [k, v] : call.config) (*s.mutable_config())[k] = v;
  for (const auto& [name, values] : call.headers) {
    auto* h = s.add_headers();
    h->set_key(name);
    for (const auto& v : values) h->add_values(v);
  }
  s.set_method(call.method);
  s.set_url(call.url);
  // The timeout runs from when the runner got the call, not from when the
  // function started: queueing and start-up count against it. 2018 LBs set
  // the stream's deadline to the same timeout from their own start, which
  // is a little earlier: we answer "504:Timed out" just before theirs
  // expires, since a call that dies by DEADLINE_EXCEEDED is an HTTP 500 to
  // the April LB's user.
  // 100 ms: the worker must notice, kill and report, and the answer cross
  // two sockets and gRPC, on a host that may be busy.
  constexpr auto kAnswerMargin = std::chrono::milliseconds(100);
  auto deadline = received + std::chrono::seconds(call.timeout_s);
  if (client_deadline - kAnswerMargin < deadline && client_deadline > received + kAnswerMargin) {
    deadline = client_deadline - kAnswerMargin;
  }
  s.set_deadline_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count());
  s.set_images_dir(config.images_dir);
  s.set_max_response_bytes(config.max_response_bytes);
  s.set_max_response_header_bytes(config.max_response_header_bytes);
  s.set_start_timeout_ms(config.container_start_timeout_ms);
  auto* sb = s.mutable_sandbox();
  sb->set_enabled(config.sandbox.enabled);
  sb->set_id(sandbox_id);
  sb->set_uid(config.sandbox.uid);
  sb->set_gid(config.sandbox.gid);
  sb->set_host_network(config.sandbox.host_network);
  sb->set_pids_max(config.sandbox.pids_max);
  sb->set_nofile(config.sandbox.nofile);
  sb->set_tmpfs_mib(config.sandbox.tmpfs_mib);
  sb->set_runtime_dir(runtime_dir);
  sb->set_cgroup_version(static_cast<uint32_t>(cgroups.version));
  for (const auto& b : cgroups.bases) sb->add_cgroup_bases(b);
  return s;
}

}  // namespace fnr
