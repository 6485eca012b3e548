// MessageView, Reply and the per-message policy (handle_message).
#include "kernels/sdk/message.h"

#include <gtest/gtest.h>

#include <cstring>

#include "kernels/sdk/dispatch.h"
#include "records.h"
#include "shm/envelope.h"

namespace rk {
namespace {

using test::Record;
using test::ReplyBuffer;

Record request(uint32_t kernel, uint32_t type, uint64_t correlation) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.setKernel(kernel);
    e.setType(type);
    e.setCorrelation(correlation);
    e.setHlcPhysical(5);
    e.setFlags(1);
    e.getPayload().setAs<capnp::Data>(kj::heapArray<kj::byte>({1, 2, 3}));
  });
}

schema::Envelope::Reader read(capnp::FlatArrayMessageReader& r) { return r.getRoot<schema::Envelope>(); }

TEST(Reply, FromRequest_CopiesKernelTypeAndCorrelation) {
  Record req = request(4, 9, 1234);
  MessageView in;
  ASSERT_TRUE(MessageView::parse(req.data(), req.size(), &in));
  ReplyBuffer buf(256, 0xCD);
  Reply out(buf.data(), buf.capacity(), in);
  const uint32_t bytes = out.finish();
  ASSERT_EQ(bytes, envelope_layout::kHeaderBytes);
  capnp::FlatArrayMessageReader r(buf.message(bytes));
  EXPECT_EQ(read(r).getKernel(), 4u);
  EXPECT_EQ(read(r).getType(), 9u);
  EXPECT_EQ(read(r).getCorrelation(), 1234u);
  EXPECT_EQ(read(r).getStatus(), 0u);
  EXPECT_EQ(read(r).getHlcPhysical(), 0u) << "the replier's clock, not the request's";
  EXPECT_EQ(read(r).getFlags(), 0u);
  EXPECT_TRUE(read(r).getPayload().isNull());
}

TEST(Reply, Fail_DropsAndZeroesThePayload) {
  ReplyBuffer buf(512);
  Reply out(buf.data(), buf.capacity());
  out.set_correlation(77);
  uint8_t* data = out.init_data(100);
  ASSERT_NE(data, nullptr);
  std::memset(data, 0xAB, 100);
  out.fail(status::malformed);
  const uint32_t bytes = out.finish();
  ASSERT_EQ(bytes, envelope_layout::kHeaderBytes);
  for (uint32_t i = bytes; i < buf.capacity(); ++i)
    ASSERT_EQ(static_cast<const uint8_t*>(buf.data())[i], 0) << "stale payload byte at " << i;
  capnp::FlatArrayMessageReader r(buf.message(bytes));
  EXPECT_EQ(read(r).getStatus(), status::malformed);
  EXPECT_EQ(read(r).getCorrelation(), 77u);
  EXPECT_TRUE(read(r).getPayload().isNull());
}

TEST(Reply, AfterOverflow_FailMakesItUsableAgain) {
  ReplyBuffer buf(128);
  Reply out(buf.data(), buf.capacity());
  EXPECT_EQ(out.init_data(1000), nullptr);
  EXPECT_EQ(out.finish(), 0u);
  out.fail(status::too_large);
  EXPECT_EQ(out.finish(), envelope_layout::kHeaderBytes);
  EXPECT_EQ(out.status(), status::too_large);
  EXPECT_TRUE(buf.guard_intact());
}

TEST(Reply, CapacityBelowAnEnvelope_FinishIsZero) {
  ReplyBuffer buf(envelope_layout::kHeaderBytes - 8);
  Reply out(buf.data(), buf.capacity());
  out.set_status(status::malformed);
  out.fail(status::malformed);
  EXPECT_EQ(out.finish(), 0u);
  EXPECT_TRUE(buf.guard_intact());
}

TEST(Reply, ZeroedBufferMode_WritesTheSameBytes) {
  Record req = request(1, 2, 3);
  MessageView in;
  ASSERT_TRUE(MessageView::parse(req.data(), req.size(), &in));
  ReplyBuffer garbage(512, 0x99), zeroed(512, 0);
  Reply a(garbage.data(), garbage.capacity(), in, false);
  Reply b(zeroed.data(), zeroed.capacity(), in, true);
  for (Reply* r : {&a, &b}) {
    r->set_status(3);
    r->init_struct(1, 1).init_list<float>(0, 5).set(2, 1.f);
  }
  const uint32_t bytes = a.finish();
  ASSERT_EQ(bytes, b.finish());
  EXPECT_EQ(std::memcmp(garbage.data(), zeroed.data(), bytes), 0);
}

TEST(Reply, AcceptedByTheServersDeepCheck) {
  Record req = request(1, 2, 3);
  MessageView in;
  ASSERT_TRUE(MessageView::parse(req.data(), req.size(), &in));
  ReplyBuffer buf(512);
  Reply out(buf.data(), buf.capacity(), in);
  ASSERT_EQ(out.copy_payload(in), status::ok);
  const uint32_t bytes = out.finish();
  EXPECT_EQ(shm::EnvelopeReader::check({static_cast<const std::byte*>(buf.data()), bytes}), Errc::ok);
}

TEST(MessageView, ServerBuiltEnvelope_Parses) {
  Record r;
  r.words.resize(64);
  auto built = shm::EnvelopeBuilder::build({reinterpret_cast<std::byte*>(r.data()), r.size()},
                                           [](schema::Envelope::Builder e) {
                                             e.setCorrelation(5);
                                             e.getPayload().initAs<capnp::List<float>>(3).set(2, 8.f);
                                           });
  ASSERT_TRUE(built.ok());
  MessageView m;
  ASSERT_TRUE(MessageView::parse(r.data(), uint32_t(built.value()), &m));
  EXPECT_EQ(m.correlation(), 5u);
  EXPECT_EQ(m.payload().as_list<float>()[2], 8.f);
}

// ---- handle_message ---------------------------------------------------------

TEST(HandleMessage, Undecodable_MalformedReplyFromThisInstance) {
  Record garbage;
  garbage.words = {0xFFFFFFFFFFFFFFFFull, 1, 2};
  ReplyBuffer buf(256);
  Context ctx(31, nullptr, 0);
  const Handled h = handle_message([](Context&, MessageView, Reply&) { FAIL() << "handler must not run"; }, ctx,
                                   garbage.data(), garbage.size(), buf.data(), buf.capacity());
  EXPECT_EQ(h.status, status::malformed);
  ASSERT_EQ(h.reply_bytes, envelope_layout::kHeaderBytes);
  capnp::FlatArrayMessageReader r(buf.message(h.reply_bytes));
  EXPECT_EQ(read(r).getKernel(), 31u);
  EXPECT_EQ(read(r).getStatus(), status::malformed);
}

TEST(HandleMessage, ReplyOutgrowingItsRecord_BecomesTooLarge) {
  Record req = request(1, 2, 42);
  ReplyBuffer buf(128);
  Context ctx(1, nullptr, 0);
  const Handled h = handle_message([](Context&, MessageView, Reply& out) { out.init_data(4096); }, ctx, req.data(),
                                   req.size(), buf.data(), buf.capacity());
  EXPECT_EQ(h.status, status::too_large);
  capnp::FlatArrayMessageReader r(buf.message(h.reply_bytes));
  EXPECT_EQ(read(r).getCorrelation(), 42u) << "the client can still match the error";
  EXPECT_TRUE(buf.guard_intact());
}

TEST(HandleMessage, BuilderMisuse_BecomesInternal) {
  Record req = request(1, 2, 3);
  ReplyBuffer buf(256);
  Context ctx(1, nullptr, 0);
  const Handled h = handle_message([](Context&, MessageView, Reply& out) { out.init_struct(1, 0).set<double>(8, 1); },
                                   ctx, req.data(), req.size(), buf.data(), buf.capacity());
  EXPECT_EQ(h.status, status::internal);
}

TEST(HandleMessage, NoRoomForAnyReply_ReportsZeroBytes) {
  Record req = request(1, 2, 3);
  ReplyBuffer buf(32);
  Context ctx(1, nullptr, 0);
  const Handled h = handle_message([](Context&, MessageView, Reply&) {}, ctx, req.data(), req.size(), buf.data(),
                                   buf.capacity());
  EXPECT_EQ(h.reply_bytes, 0u);
  EXPECT_EQ(h.status, status::too_large);
  EXPECT_TRUE(buf.guard_intact());
}

}  // namespace
}  // namespace rk
