#pragma once
// Cuts a fuzz input into chunks of pseudo-random sizes. The first byte of the
// input picks the chunking (and a few behaviour bits for the target); the
// rest is the data, so libFuzzer explores split points and contents alike.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fnr::fuzz {

class Chunker {
 public:
  Chunker(const uint8_t* data, size_t size) {
    if (size > 0) {
      control_ = data[0];
      data_ = std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1);
    }
    state_ = 0x9E3779B9U ^ (control_ * 0x01000193U);
    // Bits 0-1: the largest chunk, from one byte at a time to everything.
    static constexpr size_t kMaxChunk[] = {1, 16, 4096, SIZE_MAX};
    max_chunk_ = kMaxChunk[control_ & 3U];
  }

  [[nodiscard]] uint8_t control() const { return control_; }
  [[nodiscard]] std::string_view data() const { return data_; }
  [[nodiscard]] bool done() const { return pos_ >= data_.size(); }

  // The next chunk, of 1..max_chunk bytes (fewer at the end).
  std::string_view next() {
    const size_t left = data_.size() - pos_;
    size_t n = left;
    if (max_chunk_ != SIZE_MAX) n = std::min(left, 1 + static_cast<size_t>(rand() % max_chunk_));
    const std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  uint32_t rand() {  // xorshift32: deterministic per input
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }

  uint8_t control_ = 0;
  std::string_view data_;
  size_t pos_ = 0;
  size_t max_chunk_ = 1;
  uint32_t state_ = 1;
};

}  // namespace fnr::fuzz
