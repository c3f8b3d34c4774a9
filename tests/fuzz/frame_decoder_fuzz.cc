// libFuzzer target: fnr::FrameDecoder on arbitrary bytes, fed in random
// chunks (see fuzz_chunks.h), through feed() or write_area()/commit() as
// the control byte says. Checks that
//  - it never crashes and its buffer never grows past one maximal frame
//    plus a read's slack (buffered() bytes + free write area);
//  - no byte is dropped: every chunk fed is buffered until drained;
//  - the frames (and the error, if any) are exactly those a plain reference
//    parser finds in the whole input, whatever the split points.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "shared/frame.h"
#include "tests/fuzz/fuzz_chunks.h"

namespace {

constexpr size_t kBound = fnr::kFrameHeaderSize + fnr::kMaxFramePayload + 65536;

struct Decoded {
  std::vector<std::pair<uint8_t, std::string>> frames;
  bool error = false;
};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// The frame format, read the obvious way over the whole input.
Decoded reference(std::string_view in) {
  Decoded d;
  size_t pos = 0;
  while (in.size() - pos >= fnr::kFrameHeaderSize) {
    const auto* h = reinterpret_cast<const unsigned char*>(in.data() + pos);
    const uint32_t len = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 8) |
                         (static_cast<uint32_t>(h[2]) << 16) | (static_cast<uint32_t>(h[3]) << 24);
    if (!fnr::is_known_frame_type(h[4]) || h[5] != 0 || h[6] != 0 || h[7] != 0 ||
        len > fnr::kMaxFramePayload) {
      d.error = true;
      return d;
    }
    if (in.size() - pos - fnr::kFrameHeaderSize < len) break;
    d.frames.emplace_back(h[4], std::string(in.substr(pos + fnr::kFrameHeaderSize, len)));
    pos += fnr::kFrameHeaderSize + len;
  }
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fnr::fuzz::Chunker chunks(data, size);
  const bool use_write_area = (chunks.control() & 4U) != 0;

  fnr::FrameDecoder dec;
  Decoded got;
  while (!chunks.done() && !got.error) {
    const std::string_view chunk = chunks.next();
    // Chunks larger than a read are fed a read at a time, draining between.
    for (size_t off = 0; off < chunk.size() && !got.error;) {
      const size_t n = std::min<size_t>(chunk.size() - off, 16384);
      const size_t before = dec.buffered();
      if (use_write_area) {
        const std::span<char> area = dec.write_area(n);
        check(area.size() >= n);
        check(before + area.size() <= kBound);
        std::memcpy(area.data(), chunk.data() + off, n);
        dec.commit(n);
      } else {
        dec.feed(std::span<const char>(chunk.data() + off, n));
      }
      check(dec.buffered() == before + n);
      check(dec.buffered() <= kBound);
      off += n;

      fnr::Frame f{};
      for (;;) {
        const fnr::FrameDecoder::Status st = dec.next(f);
        if (st == fnr::FrameDecoder::Status::kNeedMore) break;
        if (st == fnr::FrameDecoder::Status::kError) {
          check(!dec.error().empty());
          // It stays in error.
          check(dec.next(f) == fnr::FrameDecoder::Status::kError);
          got.error = true;
          break;
        }
        check(fnr::is_known_frame_type(static_cast<uint8_t>(f.type)));
        check(f.payload.size() <= fnr::kMaxFramePayload);
        got.frames.emplace_back(static_cast<uint8_t>(f.type),
                                std::string(f.payload.data(), f.payload.size()));
      }
      // Free space plus what is buffered never passes the bound.
      check(dec.buffered() + dec.write_area(1).size() <= kBound);
    }
  }

  const Decoded want = reference(chunks.data());
  check(got.error == want.error);
  check(got.frames == want.frames);
  return 0;
}
