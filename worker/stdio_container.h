#pragma once
// A container whose function speaks over stdin/stdout: the part the 2018
// formats share, whether the container lives for one call (`default`) or
// for many (`http`, `json`, see stdio_hot_container.h).
//
// It owns the Container and its three pipes as libuv handles: stdin written
// through a StreamWriter (backpressure), stdout read on demand, stderr read
// always and logged line by line under the call it belongs to. It also
// holds the current call's deadline timer. What the bytes mean and how a
// call ends is the owner's business: everything is reported to Events.
//
// Owners must not destroy a StdioContainer from inside one of its Events
// callbacks (the callback may run inside the child process's exit watch).
#include <linux/filter.h>
#include <sys/types.h>
#include <uv.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/worker.pb.h"
#include "shared/stream_writer.h"
#include "worker/container.h"

namespace fnr {

// What the LB gets when the kernel's OOM killer ended the function.
inline constexpr std::string_view kOutOfMemoryMessage =
    "container out of memory, you may want to raise fn.memory for this function";

class StdioContainer {
 public:
  class Events {
   public:
    virtual ~Events() = default;
    // Bytes the function wrote to stdout (only while reading is on).
    virtual void on_stdout(std::string_view bytes) = 0;
    // stdout ended (EOF or a read error); the handle is closed already.
    virtual void on_stdout_eof() = 0;
    // The stdin queue fell below the low watermark, or emptied after
    // notify_when_stdin_empty().
    virtual void on_stdin_drained() = 0;
    // A queued write to stdin failed (the function closed it or died).
    virtual void on_stdin_error(int uv_error) = 0;
    virtual void on_exit(ExitStatus status) = 0;
    virtual void on_deadline() = 0;
  };

  // Starts the image's command with the 2018 formats' environment
  // (stdio_format_env). nullptr with `error` set when the container could
  // not start; throws std::exception when the runner itself failed (pipes,
  // handles). Stdout is not read until read_stdout().
  static std::unique_ptr<StdioContainer> start(uv_loop_t* loop, const wire::CallSpec& spec,
                                               const std::vector<sock_filter>& seccomp,
                                               Events* events, ContainerError* error);
  ~StdioContainer();  // closes the pipes, kills and reaps the function
  StdioContainer(const StdioContainer&) = delete;
  StdioContainer& operator=(const StdioContainer&) = delete;

  // Function log lines are tagged with this call id from now on.
  void set_log_call(const std::string& call_id) { log_call_id_ = call_id; }

  // --- stdin ---------------------------------------------------------------
  // Writes `a` then `b`; a libuv error when stdin is closed or broken.
  int write_stdin(std::string_view a, std::string_view b = {});
  [[nodiscard]] size_t stdin_queued() const { return stdin_writer_.queued(); }
  [[nodiscard]] bool stdin_over_high_watermark() const {
    return stdin_writer_.over_high_watermark();
  }
  void notify_when_stdin_empty() { stdin_writer_.notify_when_empty(); }
  // Bytes written to stdin that the function has not read yet: what we
  // still queue plus what sits in the pipe. 0 when stdin is closed.
  [[nodiscard]] size_t stdin_unread() const;
  void close_stdin();
  [[nodiscard]] bool stdin_open() const { return stdin_ != nullptr; }

  // --- stdout --------------------------------------------------------------
  void read_stdout();  // (re)starts reading; a no-op once stdout is closed
  void pause_stdout();
  void close_stdout();
  [[nodiscard]] bool stdout_open() const { return stdout_ != nullptr; }

  // --- the process ---------------------------------------------------------
  // Kills everything in the container; its exit is still reported.
  void kill() { container_->kill(); }
  [[nodiscard]] bool exited() const { return exited_; }
  [[nodiscard]] const ExitStatus& exit_status() const { return exit_; }
  // The process died of the cgroup's OOM killer (not of our own kill).
  [[nodiscard]] bool out_of_memory(const ExitStatus& status) const;

  // --- the call's deadline --------------------------------------------------
  // Events::on_deadline() at `deadline_unix_ms` (now if it has passed).
  void arm_deadline(int64_t deadline_unix_ms);
  void disarm_deadline();

 private:
  StdioContainer(uv_loop_t* loop, Events* events);
  void open_pipes();
  void on_stdout_read(ssize_t n);
  void on_stderr_read(ssize_t n, const char* data);
  void log_line();

  uv_loop_t* loop_;
  Events* events_;
  std::unique_ptr<Container> container_;
  uv_pipe_t* stdin_ = nullptr;  // handles are freed in their close callbacks
  uv_pipe_t* stdout_ = nullptr;
  uv_pipe_t* stderr_ = nullptr;
  uv_timer_t* deadline_ = nullptr;
  StreamWriter stdin_writer_;
  std::array<char, 65536> out_buf_{};
  std::string err_line_;
  std::string log_call_id_;
  bool exited_ = false;
  ExitStatus exit_{};
};

}  // namespace fnr
