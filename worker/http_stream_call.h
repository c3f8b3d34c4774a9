#pragma once
// One http-stream call on a hot container: the request (`POST /call`, the
// call's headers minus hop-by-hop ones, Fn-Call-Id, Fn-Deadline, the body
// chunked as frames arrive) and the response, mapped to the call's result
// as function-contract.md's table says:
//
//   200            headers + body streamed           container kept
//   502            502:function failed, body passed  kept
//   504            504:Timed out                     killed
//   other status   502:invalid function response     killed
//   EOF / crash    502:error receiving function response    killed
//   headers > max  502:function response header too large   killed
//   body > max     502:function response body too large     killed
//   deadline       504:Timed out                     killed
//   cgroup OOM     502:container out of memory, ...        gone
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proto/worker.pb.h"
#include "worker/format_run.h"
#include "worker/http_response_parser.h"

namespace fnr {

class HttpStreamContainer;

class HttpStreamCall final : public FormatRun, private HttpResponseParser::Handler {
 public:
  // Builds the request head and arms the deadline; nothing is sent until
  // the container is ready and the first body bytes (or the end) arrive.
  HttpStreamCall(HttpStreamContainer* container, const wire::CallSpec& spec, CallSink* sink);
  ~HttpStreamCall() override;
  HttpStreamCall(const HttpStreamCall&) = delete;
  HttpStreamCall& operator=(const HttpStreamCall&) = delete;

  // FormatRun
  void request_data(std::span<const char> bytes) override;
  void request_eof() override;
  [[nodiscard]] bool request_blocked() const override;
  void response_unblocked() override;
  void abort() override;

  // --- events from the container, while this call is current -----------
  void on_container_ready();  // connected to the function
  // The container could not be started or initialized (it is killed).
  void on_start_failed(int code, std::string_view message, bool error_user);
  void on_response_bytes(std::string_view bytes);
  void on_connection_closed();
  void on_write_drained();
  void on_write_failed();
  void on_container_exit();
  void on_deadline();
  [[nodiscard]] bool done() const { return phase_ == Phase::kDone; }

 private:
  enum class Phase {
    kWaitContainer,  // the container starts, or its listener is not up yet
    kExchange,       // connected: request going out, response coming in
    kWaitExit,       // the function broke; waiting for its exit to tell OOM
    kDone,           // finished (or aborted): nothing more happens
  };

  // HttpResponseParser::Handler
  bool on_response_head(int status, const HeaderList& headers) override;
  bool on_response_body(std::string_view bytes) override;
  void on_response_complete(bool keep_alive) override;

  void build_head(const wire::CallSpec& spec);
  void write_chunk(std::string_view bytes);
  void write_end();
  void after_response_complete(bool extra_bytes);
  void fail_kill(int code, std::string_view message);
  void fail_after_exit(std::string_view message);
  void finish(int code, std::string_view message, bool error_user);
  void detach();

  HttpStreamContainer* container_;  // null once detached
  CallSink* sink_;
  uint64_t max_response_bytes_;
  Phase phase_ = Phase::kWaitContainer;

  // request
  bool head_sent_ = false;
  bool any_chunk_sent_ = false;
  bool eof_requested_ = false;
  bool eof_sent_ = false;
  bool request_stopped_ = false;  // the function answered or stopped reading

  // response
  int status_ = 0;
  uint64_t body_bytes_ = 0;
  bool response_complete_ = false;
  bool keep_alive_ = false;
  std::string_view exit_message_;  // kWaitExit: the answer unless OOM
};

}  // namespace fnr
