#include "supervisor/call_spec.h"

namespace fnr {

wire::CallSpec make_call_spec(const Call& call, const Config& config,
                              std::chrono::system_clock::time_point received) {
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
  // function started: queueing and start-up count against it.
  const auto deadline = received + std::chrono::seconds(call.timeout_s);
  s.set_deadline_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count());
  s.set_images_dir(config.images_dir);
  s.set_max_response_bytes(config.max_response_bytes);
  return s;
}

}  // namespace fnr
