#pragma once
// GET /metrics over HTTP/1.1 (libmicrohttpd on its own internal thread).
// The page comes from `render`, called on that thread: it must only read
// what is safe from any thread (atomics, the ledger), never loop state.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

struct MHD_Daemon;

namespace fnr {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  // Listens on `address` ("IP:PORT", port 0 = any free one); nullptr with
  // `error` set when it cannot.
  static std::unique_ptr<MetricsServer> start(const std::string& address, Render render,
                                              std::string* error);
  ~MetricsServer();  // stops the thread and closes the socket
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound.
  [[nodiscard]] uint16_t port() const { return port_; }

 private:
  explicit MetricsServer(Render render) : render_(std::move(render)) {}
  friend struct MetricsRequest;

  Render render_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace fnr
