#include "shared/frame.h"

#include <algorithm>
#include <cstring>

namespace fnr {

bool is_known_frame_type(uint8_t type) {
  return type >= static_cast<uint8_t>(FrameType::kCallSpec) &&
         type <= static_cast<uint8_t>(FrameType::kContainerReady);
}

std::string_view frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kCallSpec:
      return "call-spec";
    case FrameType::kRequestData:
      return "request-data";
    case FrameType::kRequestEof:
      return "request-eof";
    case FrameType::kResultStart:
      return "result-start";
    case FrameType::kResponseData:
      return "response-data";
    case FrameType::kFinished:
      return "finished";
    case FrameType::kContainerReady:
      return "container-ready";
  }
  return "unknown";
}

FrameHeader encode_frame_header(FrameType type, uint32_t length) {
  FrameHeader h{};
  for (int i = 0; i < 4; ++i) h[i] = static_cast<char>((length >> (8 * i)) & 0xFFU);
  h[4] = static_cast<char>(type);
  return h;
}

std::string encode_frame(FrameType type, std::string_view payload) {
  const FrameHeader h = encode_frame_header(type, static_cast<uint32_t>(payload.size()));
  std::string out;
  out.reserve(h.size() + payload.size());
  out.append(h.data(), h.size());
  out.append(payload);
  return out;
}

// One maximal frame plus a read's worth of slack: the buffer never needs to
// grow beyond this, whatever the peer sends.
static constexpr size_t kDecoderCapacity = kFrameHeaderSize + kMaxFramePayload + 65536;

FrameDecoder::FrameDecoder() { buf_.resize(64UL * 1024); }

void FrameDecoder::compact() {
  if (begin_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

std::span<char> FrameDecoder::write_area(size_t min_size) {
  if (buf_.size() - end_ < min_size) {
    compact();
    if (buf_.size() - end_ < min_size) {
      buf_.resize(std::min(kDecoderCapacity, std::max(buf_.size() * 2, end_ + min_size)));
    }
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void FrameDecoder::commit(size_t n) { end_ += n; }

void FrameDecoder::feed(std::span<const char> bytes) {
  while (!bytes.empty()) {
    std::span<char> area = write_area(std::min<size_t>(bytes.size(), 16384));
    const size_t n = std::min(area.size(), bytes.size());
    std::memcpy(area.data(), bytes.data(), n);
    commit(n);
    bytes = bytes.subspan(n);
    // Let the caller drain frames before we would exceed capacity: feed()
    // is for tests and fuzzing, where the whole input fits.
    if (n == 0) break;
  }
}

FrameDecoder::Status FrameDecoder::next(Frame& out) {
  if (!error_.empty()) return Status::kError;
  const size_t avail = end_ - begin_;
  if (avail < kFrameHeaderSize) {
    if (avail == 0) begin_ = end_ = 0;
    return Status::kNeedMore;
  }
  const auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + begin_);
  const uint32_t length = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 8) |
                          (static_cast<uint32_t>(h[2]) << 16) | (static_cast<uint32_t>(h[3]) << 24);
  if (!is_known_frame_type(h[4])) {
    error_ = "unknown frame type " + std::to_string(h[4]);
    return Status::kError;
  }
  if (h[5] != 0 || h[6] != 0 || h[7] != 0) {
    error_ = "non-zero reserved bits in frame header";
    return Status::kError;
  }
  if (length > kMaxFramePayload) {
    error_ = "frame payload of " + std::to_string(length) + " bytes exceeds the limit of " +
             std::to_string(kMaxFramePayload);
    return Status::kError;
  }
  if (avail < kFrameHeaderSize + length) {
    // Make room for the rest of this frame now, so write_area() can grow.
    if (buf_.size() - begin_ < kFrameHeaderSize + length) compact();
    return Status::kNeedMore;
  }
  out.type = static_cast<FrameType>(h[4]);
  out.payload = {buf_.data() + begin_ + kFrameHeaderSize, length};
  begin_ += kFrameHeaderSize + length;
  return Status::kFrame;
}

}  // namespace fnr
