#pragma once
// The supervisor <-> worker frame format, spoken over a Unix stream socket.
//
//   offset 0  u32  payload length, little endian (both ends are one host)
//   offset 4  u8   frame type (FrameType)
//   offset 5  u8   flags, must be 0
//   offset 6  u16  reserved, must be 0
//   offset 8  payload: raw bytes for *_DATA, a fnrunner.wire protobuf for
//             CALL_SPEC / RESULT_START / FINISHED / CONTAINER_READY, empty
//             for REQUEST_EOF.
//
// A payload is at most kMaxFramePayload bytes; a longer length, an unknown
// type or non-zero flags is a protocol violation and the peer is dropped.
// The decoder reads straight into its own buffer (no copy per frame) and
// never grows past one maximal frame, so a hostile peer cannot make the
// other side allocate without bound.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fnr {

enum class FrameType : uint8_t {
  kCallSpec = 1,        // supervisor -> worker: wire::CallSpec, first frame
  kRequestData = 2,     // supervisor -> worker: request body bytes
  kRequestEof = 3,      // supervisor -> worker: request body complete
  kResultStart = 4,     // worker -> supervisor: wire::ResultStart, once
  kResponseData = 5,    // worker -> supervisor: response body bytes
  kFinished = 6,        // worker -> supervisor: wire::Finished, last frame
  kContainerReady = 7,  // worker -> supervisor: wire::ContainerReady, a new container is up
};

inline constexpr size_t kFrameHeaderSize = 8;
inline constexpr uint32_t kMaxFramePayload = 1U << 20;
// Response/request data is cut into frames of at most this size so that one
// frame maps onto one gRPC DataFrame well under the LB's 4 MiB limit.
inline constexpr size_t kDataChunk = 64UL * 1024;

[[nodiscard]] bool is_known_frame_type(uint8_t type);
[[nodiscard]] std::string_view frame_type_name(FrameType type);

using FrameHeader = std::array<char, kFrameHeaderSize>;

// Builds the 8-byte header for a payload of `length` bytes. The caller
// writes header and payload with one vectored write.
[[nodiscard]] FrameHeader encode_frame_header(FrameType type, uint32_t length);

// Header + payload in one buffer, for control frames and tests.
[[nodiscard]] std::string encode_frame(FrameType type, std::string_view payload);

struct Frame {
  FrameType type;
  std::span<const char> payload;  // valid until the next decoder call
};

class FrameDecoder {
 public:
  enum class Status { kFrame, kNeedMore, kError };

  FrameDecoder();

  // Where the next read should land; at least `min_size` bytes long.
  [[nodiscard]] std::span<char> write_area(size_t min_size = 16384);
  // The caller wrote `n` bytes into the last write_area().
  void commit(size_t n);
  // Feeds bytes by copy (tests, fuzzing).
  void feed(std::span<const char> bytes);

  // Yields the next complete frame, if any. After kError the decoder stays
  // in error; error() says why.
  Status next(Frame& out);
  [[nodiscard]] const std::string& error() const { return error_; }
  // Bytes received but not yet returned as frames.
  [[nodiscard]] size_t buffered() const { return end_ - begin_; }

 private:
  void compact();

  std::vector<char> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  std::string error_;
};

}  // namespace fnr
