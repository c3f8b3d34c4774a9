#include "client/request_writer.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace fnr::client {
namespace {

// Half of HTTP/2's initial stream window: the Try shares the window, and a
// write that fits can complete however slowly the runner reads.
constexpr size_t kInlineWireBytes = size_t{32} * 1024;

}  // namespace

RequestWriter::RequestWriter(Stream& stream, grpc::ClientContext& ctx, const BodySource& body,
                             RequestWriterConfig config)
    : stream_(stream), ctx_(ctx), body_(body), config_(config) {
  config_.chunk = std::max<size_t>(config_.chunk, 1);
  if (config_.stale_frames) {
    // Go's reused read buffer starts zeroed and keeps whatever the last
    // read left in it.
    msg_.mutable_data()->mutable_data()->assign(config_.chunk, '\0');
  } else {
    msg_.mutable_data()->mutable_data()->reserve(config_.chunk);
  }
}

RequestWriter::~RequestWriter() { stop_and_join(); }

bool RequestWriter::can_write_inline() const {
  if (!body_.in_memory() || config_.cancel_after_bytes) return false;
  const size_t size = body_.bytes().size();
  const size_t frames = size / config_.chunk + 1;
  const size_t wire = config_.stale_frames ? (frames + 1) * config_.chunk : size + frames * 8;
  return wire <= kInlineWireBytes;
}

void RequestWriter::write_inline() { run(); }

void RequestWriter::start_thread() {
  if (body_.fd() >= 0) {
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_) {
      result_.error = std::string("eventfd for the body writer: ") + std::strerror(errno);
      return;
    }
  }
  thread_ = std::thread([this] { run(); });
}

RequestWriterResult RequestWriter::stop_and_join() {
  stop_.store(true, std::memory_order_relaxed);
  if (stop_fd_) {
    const uint64_t one = 1;
    // A full counter is already a wake-up, so a failed write changes nothing.
    [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  return result_;
}

ssize_t RequestWriter::read_some(std::string& out, size_t max) {
  if (body_.in_memory()) {
    const std::string_view all = body_.bytes();
    const size_t n = std::min(max, all.size() - memory_offset_);
    if (config_.stale_frames) {
      std::memcpy(out.data(), all.data() + memory_offset_, n);
    } else {
      out.assign(all.data() + memory_offset_, n);
    }
    memory_offset_ += n;
    return static_cast<ssize_t>(n);
  }

  if (std::istream* in = body_.stream()) {
    if (!config_.stale_frames) out.resize(max);
    in->read(out.data(), static_cast<std::streamsize>(max));
    const auto n = static_cast<size_t>(in->gcount());
    if (in->bad()) {
      result_.error = "reading the request body stream failed";
      return -1;
    }
    if (!config_.stale_frames) out.resize(n);
    return static_cast<ssize_t>(n);
  }

  const int fd = body_.fd();
  if (!config_.stale_frames) out.resize(max);
  for (;;) {
    if (stop_fd_) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        result_.error = std::string("poll on the request body fd: ") + std::strerror(errno);
        return -1;
      }
      if (fds[1].revents != 0) return -1;  // the response is over; stop quietly
    }
    const ssize_t n = ::read(fd, out.data(), max);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) {
      result_.error = std::string("reading the request body fd: ") + std::strerror(errno);
      return -1;
    }
    if (!config_.stale_frames) out.resize(static_cast<size_t>(n));
    return n;
  }
}

bool RequestWriter::send_frame(bool eof) {
  msg_.mutable_data()->set_eof(eof);
  return stream_.Write(msg_);
}

void RequestWriter::run() {
  std::string& data = *msg_.mutable_data()->mutable_data();
  while (!stop_.load(std::memory_order_relaxed)) {
    const ssize_t n = read_some(data, config_.chunk);
    if (n < 0) {
      // A body that cannot be read must not leave the runner waiting for
      // its eof until the deadline: end the call as the LB's user would.
      if (!result_.error.empty()) {
        result_.cancelled = true;
        ctx_.TryCancel();
      }
      return;
    }
    // Go readers return the last bytes and io.EOF separately, so the LBs
    // send a separate (possibly stale) eof frame; a memory body needs no
    // extra frame, which exercises the runner's other accepted form.
    const bool eof = n == 0 || (body_.in_memory() && !config_.stale_frames &&
                                memory_offset_ == body_.bytes().size());
    // A write fails once the runner has ended the stream (a NACK, or a
    // function that answered without reading): not ours to report.
    if (!send_frame(eof)) return;
    result_.bytes_sent += static_cast<uint64_t>(n);
    if (eof) {
      result_.eof_sent = true;
      return;
    }
    if (config_.cancel_after_bytes && result_.bytes_sent >= *config_.cancel_after_bytes) {
      result_.cancelled = true;
      ctx_.TryCancel();
      return;
    }
  }
}

}  // namespace fnr::client
