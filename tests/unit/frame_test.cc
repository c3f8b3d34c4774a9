#include "shared/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fnr {
namespace {

struct Decoded {
  FrameType type;
  std::string payload;
};

std::vector<Decoded> drain(FrameDecoder& d, FrameDecoder::Status* last = nullptr) {
  std::vector<Decoded> out;
  Frame f{};
  FrameDecoder::Status s;
  while ((s = d.next(f)) == FrameDecoder::Status::kFrame) {
    out.push_back({f.type, std::string(f.payload.data(), f.payload.size())});
  }
  if (last != nullptr) *last = s;
  return out;
}

TEST(FrameCodec, RoundTripsEveryType) {
  std::string wire;
  for (uint8_t t = 1; t <= 7; ++t) {
    wire += encode_frame(static_cast<FrameType>(t),
                         std::string(size_t{t} * 3, static_cast<char>('a' + t)));
  }
  FrameDecoder d;
  d.feed(wire);
  auto frames = drain(d);
  ASSERT_EQ(frames.size(), 7U);
  for (uint8_t t = 1; t <= 7; ++t) {
    EXPECT_EQ(static_cast<uint8_t>(frames[t - 1].type), t);
    EXPECT_EQ(frames[t - 1].payload, std::string(size_t{t} * 3, static_cast<char>('a' + t)));
  }
  EXPECT_EQ(d.buffered(), 0U);
}

TEST(FrameCodec, EmptyPayload) {
  FrameDecoder d;
  d.feed(encode_frame(FrameType::kRequestEof, ""));
  auto frames = drain(d);
  ASSERT_EQ(frames.size(), 1U);
  EXPECT_EQ(frames[0].type, FrameType::kRequestEof);
  EXPECT_TRUE(frames[0].payload.empty());
}

TEST(FrameCodec, TruncatedFrameWaitsForMoreAtEveryCut) {
  const std::string payload(1000, 'x');
  const std::string wire = encode_frame(FrameType::kResponseData, payload);
  for (size_t cut = 0; cut < wire.size(); ++cut) {
    FrameDecoder d;
    d.feed(std::string_view(wire).substr(0, cut));
    FrameDecoder::Status s;
    EXPECT_TRUE(drain(d, &s).empty()) << "cut " << cut;
    EXPECT_EQ(s, FrameDecoder::Status::kNeedMore);
    d.feed(std::string_view(wire).substr(cut));
    auto frames = drain(d);
    ASSERT_EQ(frames.size(), 1U) << "cut " << cut;
    EXPECT_EQ(frames[0].payload, payload);
  }
}

TEST(FrameCodec, ByteByByteDelivery) {
  std::string wire = encode_frame(FrameType::kCallSpec, "spec") +
                     encode_frame(FrameType::kRequestData, std::string(70000, 'd')) +
                     encode_frame(FrameType::kRequestEof, "");
  FrameDecoder d;
  std::vector<Decoded> all;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    for (auto& f : drain(d)) all.push_back(std::move(f));
  }
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[1].payload.size(), 70000U);
}

TEST(FrameCodec, MaximalFrameIsAccepted) {
  const std::string payload(kMaxFramePayload, 'm');
  FrameDecoder d;
  d.feed(encode_frame(FrameType::kResponseData, payload));
  auto frames = drain(d);
  ASSERT_EQ(frames.size(), 1U);
  EXPECT_EQ(frames[0].payload.size(), kMaxFramePayload);
}

TEST(FrameCodec, OversizedFrameIsRejectedFromItsHeader) {
  // Only the header arrives: the decoder must refuse before buffering.
  FrameHeader h = encode_frame_header(FrameType::kResponseData, kMaxFramePayload + 1);
  FrameDecoder d;
  d.feed(std::string_view(h.data(), h.size()));
  FrameDecoder::Status s;
  EXPECT_TRUE(drain(d, &s).empty());
  EXPECT_EQ(s, FrameDecoder::Status::kError);
  EXPECT_NE(d.error().find("exceeds"), std::string::npos);
  // Errors are sticky: later good frames are not decoded.
  d.feed(encode_frame(FrameType::kRequestEof, ""));
  EXPECT_TRUE(drain(d, &s).empty());
  EXPECT_EQ(s, FrameDecoder::Status::kError);
}

TEST(FrameCodec, UnknownTypeAndFlagsAreRejected) {
  for (int variant = 0; variant < 3; ++variant) {
    FrameHeader h = encode_frame_header(FrameType::kRequestData, 0);
    if (variant == 0) h[4] = 0;
    if (variant == 1) h[4] = 99;
    if (variant == 2) h[5] = 1;
    FrameDecoder d;
    d.feed(std::string_view(h.data(), h.size()));
    FrameDecoder::Status s;
    drain(d, &s);
    EXPECT_EQ(s, FrameDecoder::Status::kError) << "variant " << variant;
    EXPECT_FALSE(d.error().empty());
  }
}

TEST(FrameCodec, BufferStaysBoundedUnderAStreamOfFrames) {
  FrameDecoder d;
  const std::string frame = encode_frame(FrameType::kResponseData, std::string(kDataChunk, 'z'));
  size_t total = 0;
  for (int i = 0; i < 200; ++i) {
    auto area = d.write_area(frame.size());
    ASSERT_GE(area.size(), frame.size());
    std::copy(frame.begin(), frame.end(), area.begin());
    d.commit(frame.size());
    total += drain(d).size();
  }
  EXPECT_EQ(total, 200U);
  EXPECT_LE(d.write_area(1).size(), kFrameHeaderSize + kMaxFramePayload + 65536);
}

}  // namespace
}  // namespace fnr
