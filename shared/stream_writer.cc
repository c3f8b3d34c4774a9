#include "shared/stream_writer.h"

#include <memory>

namespace fnr {

struct StreamWriter::Pending {
  uv_write_t req{};
  std::string bytes;
  std::shared_ptr<Alive> alive;
};

StreamWriter::~StreamWriter() { detach(); }

void StreamWriter::detach() {
  alive_->writer = nullptr;
  alive_ = std::make_shared<Alive>(Alive{this});
  stream_ = nullptr;
  queued_ = 0;
}

int StreamWriter::write(std::string_view a, std::string_view b) {
  if (stream_ == nullptr) return UV_EPIPE;
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
  if ((self->want_drain_ && self->queued_ <= kLowWatermark) ||
      (self->want_empty_ && self->queued_ == 0)) {
    self->want_drain_ = false;
    self->want_empty_ = false;
    self->on_drain_();
  }
}

}  // namespace fnr
