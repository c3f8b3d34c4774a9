#include "supervisor/metrics_server.h"

#include <microhttpd.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstring>
#include <string_view>

#include "shared/ip_address.h"

namespace fnr {

// A scrape is small and rare: a few connections, each bounded in time, so
// a stuck client cannot hold the one serving thread.
constexpr unsigned kMaxConnections = 16;
constexpr unsigned kConnectionTimeoutS = 10;
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

struct MetricsRequest {
  static MHD_Result reply(MHD_Connection* conn, unsigned status, std::string_view body,
                          const char* content_type, const char* allow = nullptr) {
    MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                      MHD_RESPMEM_MUST_COPY);
    if (r == nullptr) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow != nullptr) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    const MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
  }

  static MHD_Result handle(void* cls, MHD_Connection* conn, const char* url, const char* method,
                           const char* /*version*/, const char* /*upload_data*/,
                           size_t* /*upload_data_size*/, void** /*con_cls*/) {
    auto* self = static_cast<MetricsServer*>(cls);
    const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                     std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (std::strcmp(url, "/metrics") != 0) {
      return reply(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", "text/plain");
    }
    if (!get) {
      return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", "text/plain", "GET, HEAD");
    }
    std::string page;
    try {
      page = self->render_();
    } catch (const std::exception& e) {
      spdlog::error("metrics: rendering the page failed: {}", e.what());
      return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n", "text/plain");
    }
    return reply(conn, MHD_HTTP_OK, page, kContentType);
  }

  static void log(void* /*cls*/, const char* fmt, va_list ap) {
    char line[512];
    std::vsnprintf(line, sizeof line, fmt, ap);
    std::string_view text(line);
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    spdlog::warn("metrics http: {}", text);
  }
};

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& address, Render render,
                                                    std::string* error) {
  const auto endpoint = parse_ip_endpoint(address, error);
  if (!endpoint) return nullptr;
  std::unique_ptr<MetricsServer> s(new MetricsServer(std::move(render)));
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (endpoint->is_v6()) flags |= MHD_USE_IPv6;
  uint16_t port = 0;
  if (endpoint->is_v6()) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&endpoint->addr)->sin6_port);
  } else {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&endpoint->addr)->sin_port);
  }
  s->daemon_ = MHD_start_daemon(flags, port, nullptr, nullptr, &MetricsRequest::handle, s.get(),
                                // First, so that MHD's own start-up messages reach our log too.
                                MHD_OPTION_EXTERNAL_LOGGER, &MetricsRequest::log, nullptr,
                                MHD_OPTION_SOCK_ADDR, endpoint->sockaddr_ptr(),
                                MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
                                MHD_OPTION_CONNECTION_TIMEOUT, kConnectionTimeoutS, MHD_OPTION_END);
  if (s->daemon_ == nullptr) {
    *error = "cannot listen on " + address + " (in use, or not an address of this host?)";
    return nullptr;
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(s->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  s->port_ = info != nullptr ? info->port : port;
  return s;
}

MetricsServer::~MetricsServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace fnr
