// The SDK's builder (and deep copy) against libcapnp's reader.
#include "kernels/sdk/capnp_builder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/builtin/layouts.h"
#include "kernels/sdk/capnp_copy.h"
#include "kernels/sdk/message.h"
#include "records.h"
#include "rk_schema/kernels.capnp.h"

namespace rk {
namespace {

using proto::MessageBuilder;
using proto::StructBuilder;
using test::ReplyBuffer;

// libcapnp's Envelope reader over what a builder finished.
struct CapnpRead {
  CapnpRead(const ReplyBuffer& buffer, uint32_t bytes) : reader(buffer.message(bytes), test::strict_options()) {}
  schema::Envelope::Reader envelope() { return reader.getRoot<schema::Envelope>(); }
  capnp::FlatArrayMessageReader reader;
};

// The root Envelope, as the SDK lays it out.
StructBuilder init_envelope(MessageBuilder& b) {
  return b.init_root(envelope_layout::kDataWords, envelope_layout::kPointers);
}

TEST(CapnpBuilder, EnvelopeFields_ReadByCapnp) {
  ReplyBuffer buf(256);
  MessageBuilder b(buf.data(), buf.capacity());
  StructBuilder e = init_envelope(b);
  e.set<uint32_t>(envelope_layout::kKernel, 0xDEADBEEF);
  e.set<uint32_t>(envelope_layout::kType, 42);
  e.set<uint64_t>(envelope_layout::kCorrelation, 0x0123456789ABCDEFull);
  e.set<uint64_t>(envelope_layout::kHlcPhysical, 77);
  e.set<uint32_t>(envelope_layout::kHlcLogical, 78);
  e.set<uint16_t>(envelope_layout::kStatus, 10);
  e.set<uint16_t>(envelope_layout::kFlags, 0x8001);
  ASSERT_TRUE(e.set_data(envelope_layout::kPayload, "hello", 5));
  const uint32_t bytes = b.finish();
  ASSERT_EQ(bytes, envelope_layout::kHeaderBytes + 8);

  CapnpRead r(buf, bytes);
  auto env = r.envelope();
  EXPECT_EQ(env.getKernel(), 0xDEADBEEFu);
  EXPECT_EQ(env.getType(), 42u);
  EXPECT_EQ(env.getCorrelation(), 0x0123456789ABCDEFull);
  EXPECT_EQ(env.getHlcPhysical(), 77u);
  EXPECT_EQ(env.getHlcLogical(), 78u);
  EXPECT_EQ(env.getStatus(), 10u);
  EXPECT_EQ(env.getFlags(), 0x8001u);
  auto data = env.getPayload().getAs<capnp::Data>();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.begin()), data.size()), "hello");
}

TEST(CapnpBuilder, SaxpyAndReduceSum_ReadByCapnp) {
  ReplyBuffer buf(1024);
  {
    using L = builtin::layout::SaxpyRequest;
    MessageBuilder b(buf.data(), buf.capacity());
    StructBuilder req = init_envelope(b).init_struct(envelope_layout::kPayload, L::kDataWords, L::kPointers);
    req.set<float>(L::kA, -1.25f);
    proto::ListBuilder<float> x = req.init_list<float>(L::kX, 3), y = req.init_list<float>(L::kY, 3);
    for (uint32_t i = 0; i < 3; ++i) x.set(i, float(i)), y.set(i, 10.f + i);
    CapnpRead r(buf, b.finish());
    auto got = r.envelope().getPayload().getAs<schema::SaxpyRequest>();
    EXPECT_EQ(got.getA(), -1.25f);
    ASSERT_EQ(got.getX().size(), 3u);
    ASSERT_EQ(got.getY().size(), 3u);
    for (uint32_t i = 0; i < 3; ++i) {
      EXPECT_EQ(got.getX()[i], float(i));
      EXPECT_EQ(got.getY()[i], 10.f + i);
    }
  }
  {
    using L = builtin::layout::SaxpyReply;
    MessageBuilder b(buf.data(), buf.capacity());
    init_envelope(b).init_struct(0, L::kDataWords, L::kPointers).init_list<float>(L::kY, 2).set(1, 4.5f);
    CapnpRead r(buf, b.finish());
    auto got = r.envelope().getPayload().getAs<schema::SaxpyReply>();
    ASSERT_EQ(got.getY().size(), 2u);
    EXPECT_EQ(got.getY()[1], 4.5f);
  }
  {
    using L = builtin::layout::ReduceSumRequest;
    MessageBuilder b(buf.data(), buf.capacity());
    init_envelope(b).init_struct(0, L::kDataWords, L::kPointers).init_list<float>(L::kValues, 4).set(3, 2.f);
    CapnpRead r(buf, b.finish());
    auto got = r.envelope().getPayload().getAs<schema::ReduceSumRequest>();
    ASSERT_EQ(got.getValues().size(), 4u);
    EXPECT_EQ(got.getValues()[3], 2.f);
  }
  {
    using L = builtin::layout::ReduceSumReply;
    MessageBuilder b(buf.data(), buf.capacity());
    init_envelope(b).init_struct(0, L::kDataWords, L::kPointers).set<double>(L::kSum, 6.125);
    CapnpRead r(buf, b.finish());
    EXPECT_EQ(r.envelope().getPayload().getAs<schema::ReduceSumReply>().getSum(), 6.125);
  }
}

TEST(CapnpBuilder, LayoutsAgreeWithGeneratedCode) {
  using namespace builtin::layout;
  auto size_of = [](auto tag) { return capnp::_::structSize<typename decltype(tag)::type>(); };
  auto expect = [&](auto tag, uint16_t data_words, uint16_t pointers) {
    EXPECT_EQ(size_of(tag).data, data_words);
    EXPECT_EQ(size_of(tag).pointers, pointers);
  };
  expect(std::type_identity<schema::Envelope>{}, envelope_layout::kDataWords, envelope_layout::kPointers);
  expect(std::type_identity<schema::SaxpyRequest>{}, SaxpyRequest::kDataWords, SaxpyRequest::kPointers);
  expect(std::type_identity<schema::SaxpyReply>{}, SaxpyReply::kDataWords, SaxpyReply::kPointers);
  expect(std::type_identity<schema::ReduceSumRequest>{}, ReduceSumRequest::kDataWords, ReduceSumRequest::kPointers);
  expect(std::type_identity<schema::ReduceSumReply>{}, ReduceSumReply::kDataWords, ReduceSumReply::kPointers);
}

TEST(CapnpBuilder, SameBuildOrder_SameBytesAsCapnp) {
  using L = builtin::layout::SaxpyRequest;
  test::Record expected = test::capnp_envelope([](schema::Envelope::Builder e) {
    e.setKernel(1);
    e.setCorrelation(2);
    auto req = e.getPayload().initAs<schema::SaxpyRequest>();
    req.setA(3.f);
    auto x = req.initX(3);
    auto y = req.initY(3);
    for (uint32_t i = 0; i < 3; ++i) x.set(i, float(i)), y.set(i, float(2 * i));
  });
  ReplyBuffer buf(1024, 0x5A);  // garbage: allocations must zero what they take
  MessageBuilder b(buf.data(), buf.capacity());
  StructBuilder e = init_envelope(b);
  e.set<uint32_t>(envelope_layout::kKernel, 1);
  e.set<uint64_t>(envelope_layout::kCorrelation, 2);
  StructBuilder req = e.init_struct(envelope_layout::kPayload, L::kDataWords, L::kPointers);
  req.set<float>(L::kA, 3.f);
  auto x = req.init_list<float>(L::kX, 3);
  auto y = req.init_list<float>(L::kY, 3);
  for (uint32_t i = 0; i < 3; ++i) x.set(i, float(i)), y.set(i, float(2 * i));
  const uint32_t bytes = b.finish();
  ASSERT_EQ(bytes, expected.size());
  EXPECT_EQ(std::memcmp(buf.data(), expected.data(), bytes), 0);
}

TEST(CapnpBuilder, NestedShapes_ReadByCapnp) {
  ReplyBuffer buf(4096);
  MessageBuilder b(buf.data(), buf.capacity());
  StructBuilder e = init_envelope(b);
  proto::StructListBuilder list = e.pointer(0).init_struct_list(3, 1, 2);
  for (uint32_t i = 0; i < 3; ++i) {
    list[i].set<float>(0, float(i));
    list[i].init_list<float>(0, i).set(0, 5.f);
  }
  CapnpRead r(buf, b.finish());
  auto got = r.envelope().getPayload().getAs<capnp::List<schema::SaxpyRequest>>();
  ASSERT_EQ(got.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].getA(), float(i));
    EXPECT_EQ(got[i].getX().size(), i);
    EXPECT_FALSE(got[i].hasY());
  }
  EXPECT_EQ(got[1].getX()[0], 5.f);

  MessageBuilder b2(buf.data(), buf.capacity());
  proto::PointerListBuilder blobs = init_envelope(b2).init_pointer_list(0, 3);
  blobs[0].set_data("abc", 3);
  blobs[2].init_list<int16_t>(2).set(1, -3);
  CapnpRead r2(buf, b2.finish());
  auto pointers = r2.envelope().getPayload().getAs<capnp::List<capnp::Data>>();
  ASSERT_EQ(pointers.size(), 3u);
  EXPECT_EQ(pointers[0].size(), 3u);
  EXPECT_EQ(pointers[0][2], 'c');
  EXPECT_EQ(pointers[1].size(), 0u);
  auto shorts = r2.envelope().getPayload().getAs<capnp::List<capnp::List<int16_t>>>()[2];
  EXPECT_EQ(shorts[1], -3);
}

template <class T>
void expect_list_read_by_capnp(std::vector<T> values) {
  ReplyBuffer buf(1024, 0xFF);
  MessageBuilder b(buf.data(), buf.capacity());
  proto::ListBuilder<T> list = init_envelope(b).template init_list<T>(0, uint32_t(values.size()));
  for (uint32_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
  CapnpRead r(buf, b.finish());
  auto got = r.envelope().getPayload().getAs<capnp::List<T>>();
  ASSERT_EQ(got.size(), values.size());
  for (uint32_t i = 0; i < values.size(); ++i) EXPECT_EQ(got[i], values[i]);
}

TEST(CapnpBuilder, PrimitiveListsOfEveryWidth_ReadByCapnp) {
  expect_list_read_by_capnp<int8_t>({-1, 2, -3});
  expect_list_read_by_capnp<uint16_t>({65535, 0, 7, 8, 9});
  expect_list_read_by_capnp<int32_t>({INT32_MIN, 1});
  expect_list_read_by_capnp<uint64_t>({UINT64_MAX});
  expect_list_read_by_capnp<double>({0.5, -1e300});
  expect_list_read_by_capnp<float>({});
}

TEST(CapnpBuilder, EmptyStruct_IsNotNull) {
  ReplyBuffer buf(256);
  MessageBuilder b(buf.data(), buf.capacity());
  ASSERT_TRUE(init_envelope(b).init_struct(0, 0, 0).ok());
  CapnpRead r(buf, b.finish());
  auto payload = r.envelope().getPayload();
  EXPECT_FALSE(payload.isNull());
  EXPECT_EQ(payload.getAs<capnp::AnyStruct>().getDataSection().size(), 0u);
}

TEST(CapnpBuilder, BoolFields_RoundTrip) {
  ReplyBuffer buf(256);
  MessageBuilder b(buf.data(), buf.capacity());
  StructBuilder s = init_envelope(b).init_struct(0, 1, 0);
  s.set_bool(0, true);
  s.set_bool(63, true);
  s.set_bool(5, true);
  s.set_bool(5, false);
  const uint32_t bytes = b.finish();
  MessageView m;
  ASSERT_TRUE(MessageView::parse(buf.data(), bytes, &m));
  EXPECT_TRUE(m.payload_struct().get_bool(0));
  EXPECT_TRUE(m.payload_struct().get_bool(63));
  EXPECT_FALSE(m.payload_struct().get_bool(5));
  EXPECT_EQ(m.payload_struct().get<uint64_t>(0), 0x8000000000000001ull);
}

TEST(CapnpBuilder, Overflow_SetsErrorAndNeverWritesPastCapacity) {
  ReplyBuffer buf(128);
  MessageBuilder b(buf.data(), buf.capacity());
  StructBuilder e = init_envelope(b);
  EXPECT_EQ(e.init_data(0, 100), nullptr);
  EXPECT_EQ(b.error(), proto::BuildError::overflow);
  EXPECT_FALSE(e.init_list<float>(0, 1).ok()) << "nothing more after an overflow";
  EXPECT_EQ(b.finish(), 0u);
  EXPECT_TRUE(buf.guard_intact());

  // Every capacity either holds the whole message or reports overflow.
  for (uint32_t capacity = 0; capacity <= 256; capacity += 8) {
    ReplyBuffer small(capacity, 0x77);
    MessageBuilder mb(small.data(), small.capacity());
    using L = builtin::layout::SaxpyRequest;
    StructBuilder req = init_envelope(mb).init_struct(0, L::kDataWords, L::kPointers);
    req.init_list<float>(L::kX, 9).set(8, 1.f);
    req.init_list<float>(L::kY, 9).set(8, 2.f);
    const uint32_t bytes = mb.finish();
    EXPECT_TRUE(small.guard_intact()) << capacity;
    if (bytes == 0) continue;
    EXPECT_LE(bytes, capacity);
    CapnpRead r(small, bytes);
    EXPECT_EQ(r.envelope().getPayload().getAs<schema::SaxpyRequest>().getY()[8], 2.f);
  }
}

TEST(CapnpBuilder, HugeCounts_OverflowWithoutWrapping) {
  ReplyBuffer buf(1024);
  MessageBuilder b(buf.data(), buf.capacity());
  StructBuilder e = init_envelope(b);
  EXPECT_FALSE(e.init_list<uint64_t>(0, 0xFFFFFFFFu).ok());
  MessageBuilder b2(buf.data(), buf.capacity());
  EXPECT_FALSE(init_envelope(b2).init_struct_list(0, 1u << 20, 0xFFFF, 0xFFFF).ok());
  EXPECT_EQ(b2.error(), proto::BuildError::overflow);
  EXPECT_TRUE(buf.guard_intact());
}

TEST(CapnpBuilder, FieldsOutsideTheLayout_AreMisuse) {
  ReplyBuffer buf(256);
  {
    MessageBuilder b(buf.data(), buf.capacity());
    init_envelope(b).set<uint64_t>(32, 1);  // the data section is 32 bytes
    EXPECT_EQ(b.error(), proto::BuildError::misuse);
    EXPECT_EQ(b.finish(), 0u);
  }
  {
    MessageBuilder b(buf.data(), buf.capacity());
    init_envelope(b).set<uint32_t>(2, 1);  // misaligned
    EXPECT_EQ(b.error(), proto::BuildError::misuse);
  }
  {
    MessageBuilder b(buf.data(), buf.capacity());
    EXPECT_FALSE(init_envelope(b).pointer(1).ok());
    EXPECT_EQ(b.error(), proto::BuildError::misuse);
  }
  EXPECT_TRUE(buf.guard_intact());
}

TEST(CapnpBuilder, UnusableBuffers_FinishAsZero) {
  uint64_t words[4] = {};
  MessageBuilder null_buffer(nullptr, 64);
  EXPECT_EQ(null_buffer.finish(), 0u);
  MessageBuilder misaligned(reinterpret_cast<uint8_t*>(words) + 4, 24);
  EXPECT_EQ(misaligned.finish(), 0u);
  MessageBuilder tiny(words, 8);
  EXPECT_FALSE(tiny.init_root(1, 0).ok());
  EXPECT_EQ(tiny.finish(), 0u);
}

TEST(CapnpCopy, ArbitraryPayload_CopiedEqualPerCapnp) {
  test::Record source = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto list = e.getPayload().initAs<capnp::List<capnp::List<schema::SaxpyRequest>>>(3);
    for (uint32_t i = 0; i < 3; ++i) {
      auto inner = list.init(i, i + 1);
      for (uint32_t j = 0; j <= i; ++j) {
        inner[j].setA(float(i * 10 + j));
        inner[j].initX(j + 2).set(j, 1.f);
      }
    }
  });
  MessageView in;
  ASSERT_TRUE(MessageView::parse(source.data(), source.size(), &in));
  ReplyBuffer buf(4096, 0xEE);
  MessageBuilder b(buf.data(), buf.capacity());
  ASSERT_EQ(proto::copy_pointer(in.payload(), init_envelope(b).pointer(0)), proto::CopyResult::ok);
  CapnpRead copy(buf, b.finish());
  capnp::FlatArrayMessageReader original(
      kj::arrayPtr(reinterpret_cast<const capnp::word*>(source.data()), source.size() / 8));
  EXPECT_TRUE(copy.envelope().getPayload() == original.getRoot<schema::Envelope>().getPayload());
  EXPECT_EQ(copy.envelope().getPayload().getAs<capnp::List<capnp::List<schema::SaxpyRequest>>>()[2][1].getA(), 21.f);
}

TEST(CapnpCopy, TooSmallOrMalformed_Reported) {
  test::Record source = test::capnp_envelope([](schema::Envelope::Builder e) {
    e.getPayload().initAs<capnp::List<double>>(100);
  });
  MessageView in;
  ASSERT_TRUE(MessageView::parse(source.data(), source.size(), &in));
  ReplyBuffer small(256);
  MessageBuilder b(small.data(), small.capacity());
  EXPECT_EQ(proto::copy_pointer(in.payload(), init_envelope(b).pointer(0)), proto::CopyResult::overflow);
  EXPECT_TRUE(small.guard_intact());

  source.seg(5) = proto::list_pointer(0, proto::ElementSize::eight_bytes, 101);  // one past the end
  ASSERT_TRUE(MessageView::parse(source.data(), source.size(), &in));
  ReplyBuffer big(4096);
  MessageBuilder b2(big.data(), big.capacity());
  EXPECT_EQ(proto::copy_pointer(in.payload(), init_envelope(b2).pointer(0)), proto::CopyResult::malformed);
}

}  // namespace
}  // namespace rk
