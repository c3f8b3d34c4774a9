#include "shared/stream_writer.h"

#include <memory>

#include "shared/uv_handles.h"

namespace fnr {

struct StreamWriter::Pending {
  uv_write_t req{};
  std::string bytes;
  std::shared_ptr<Alive> alive;
};

StreamWriter::~StreamWriter() { detach(); }

void StreamWriter::attach(uv_stream_t* stream) {
  stream_ = stream;
  flush_check_ = new uv_check_t{};
  uv_check_init(stream->loop, flush_check_);
  flush_check_->data = this;
  flush_idle_ = new uv_idle_t{};
  uv_idle_init(stream->loop, flush_idle_);
  flush_idle_->data = this;
}

void StreamWriter::detach() {
  if (stream_ != nullptr && queued_ == 0 && !gathered_.empty()) {
    // Best effort, as an ungathered write would have been: the peer may
    // still read what was sent just before the close.
    uv_buf_t buf = uv_buf_init(gathered_.data(), static_cast<unsigned>(gathered_.size()));
    (void)uv_try_write(stream_, &buf, 1);
  }
  gathered_.clear();
  close_and_free(flush_check_);
  close_and_free(flush_idle_);
  alive_->writer = nullptr;
  alive_ = std::make_shared<Alive>(Alive{this});
  stream_ = nullptr;
  queued_ = 0;
}

int StreamWriter::write(std::string_view a, std::string_view b) {
  if (stream_ == nullptr) return UV_EPIPE;
  const size_t n = a.size() + b.size();
  if (n < kGatherBelow && gathered_.size() + n <= kGatherBelow * 4) {
    if (gathered_.empty()) arm_flush();
    gathered_.append(a).append(b);
    if (queued() >= kHighWatermark) want_drain_ = true;
    return 0;
  }
  if (int rc = flush(); rc != 0) return rc;
  return write_now(a, b);
}

void StreamWriter::arm_flush() {
  uv_check_start(flush_check_, [](uv_check_t* h) {
    if (auto* self = static_cast<StreamWriter*>(h->data)) self->flush_at_turn_end();
  });
  uv_idle_start(flush_idle_, [](uv_idle_t*) {});
}

void StreamWriter::flush_at_turn_end() {
  if (int rc = flush(); rc != 0) on_error_(rc);
}

int StreamWriter::flush() {
  if (gathered_.empty()) return 0;
  uv_check_stop(flush_check_);
  uv_idle_stop(flush_idle_);
  const int rc = write_now(gathered_, {});
  gathered_.clear();
  // What left at once has no write callback to report it.
  if (rc == 0) check_drain();
  return rc;
}

int StreamWriter::write_now(std::string_view a, std::string_view b) {
  size_t written = 0;
  if (queued_ == 0) {
    uv_buf_t bufs[2] = {uv_buf_init(const_cast<char*>(a.data()), static_cast<unsigned>(a.size())),
                        uv_buf_init(const_cast<char*>(b.data()), static_cast<unsigned>(b.size()))};
    const int rc = uv_try_write(stream_, bufs, b.empty() ? 1 : 2);
    if (rc >= 0) {
      written = static_cast<size_t>(rc);
    } else if (rc != UV_EAGAIN) {
      return rc;
    }
  }
  if (written == a.size() + b.size()) return 0;

  auto p = std::make_unique<Pending>();
  p->alive = alive_;
  if (written < a.size()) {
    p->bytes.reserve(a.size() - written + b.size());
    p->bytes.append(a.substr(written));
    p->bytes.append(b);
  } else {
    p->bytes.assign(b.substr(written - a.size()));
  }
  p->req.data = p.get();
  uv_buf_t buf = uv_buf_init(p->bytes.data(), static_cast<unsigned>(p->bytes.size()));
  if (int rc = uv_write(&p->req, stream_, &buf, 1, on_written); rc != 0) return rc;
  queued_ += p->bytes.size();
  if (queued_ >= kHighWatermark) want_drain_ = true;
  p.release();  // owned by libuv until on_written
  return 0;
}

void StreamWriter::on_written(uv_write_t* req, int status) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(req->data));
  StreamWriter* self = p->alive->writer;
  if (self == nullptr) return;
  self->queued_ -= p->bytes.size();
  if (status < 0) {
    self->on_error_(status);
    return;
  }
  self->check_drain();
}

void StreamWriter::check_drain() {
  if ((want_drain_ && queued() <= kLowWatermark) || (want_empty_ && queued() == 0)) {
    want_drain_ = false;
    want_empty_ = false;
    on_drain_();
  }
}

}  // namespace fnr
