// Typed Cap'n Proto payloads built in place through ringkernel.hpp (saxpy,
// reduce_sum), and what happens to payloads that do not decode: an error
// reply with a status, the error counted, and the kernel still answering.
#include <capnp/message.h>

#include <cstring>
#include <string>
#include <vector>

#include "rk_schema/envelope.capnp.h"
#include "rk_schema/kernels.capnp.h"
#include "ringkernel/ringkernel.hpp"
#include "tests/capi/capi_test.h"

namespace rk::test {
namespace {

using rk::schema::Envelope;
using rk::schema::ReduceSumReply;
using rk::schema::ReduceSumRequest;
using rk::schema::SaxpyReply;
using rk::schema::SaxpyRequest;

constexpr uint32_t kType = 21;
constexpr rk::Timeout kWait{10000};

class CapiTyped : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.started()) << daemon_.error();
    client_.emplace(daemon_.socket_path().c_str());
  }
  rk::Kernel active(const char* kernel) {
    rk::Kernel k = client_->launch(kernel);
    k.activate();
    return k;
  }
  // Sends a saxpy request with the given x and y; returns its correlation.
  static uint64_t send_saxpy(rk::Kernel& k, float a, const std::vector<float>& x, const std::vector<float>& y) {
    return k.send_typed<Envelope, SaxpyRequest>(kType, 64 * 1024, [&](SaxpyRequest::Builder req) {
      req.setA(a);
      auto xs = req.initX(uint32_t(x.size()));
      for (uint32_t i = 0; i < x.size(); ++i) xs.set(i, x[i]);
      auto ys = req.initY(uint32_t(y.size()));
      for (uint32_t i = 0; i < y.size(); ++i) ys.set(i, y[i]);
    });
  }
  // The next reply with its status, whatever it is (the C++ layer would throw
  // on an error reply).
  static MessagePtr next_reply(rk::Kernel& k, rk_status& status) {
    rk_message* m = nullptr;
    status = rk_receive(k.get(), &m, kWait.count());
    return MessagePtr(m);
  }
  // A saxpy of 4 elements that must come back right: the kernel still serves.
  static void expect_saxpy_works(rk::Kernel& k) {
    const uint64_t corr = send_saxpy(k, 3.0f, {1, 2, 3, 4}, {10, 20, 30, 40});
    rk::Message reply = k.receive(kWait);
    ASSERT_EQ(reply.correlation(), corr);
    auto reader = reply.reader<Envelope>();
    auto y = reader.getRoot<Envelope>().getPayload().getAs<SaxpyReply>().getY();
    ASSERT_EQ(y.size(), 4u);
    EXPECT_EQ(y[0], 13.0f);
    EXPECT_EQ(y[3], 52.0f);
  }

  Daemon daemon_;
  std::optional<rk::Client> client_;
};

TEST_F(CapiTyped, Saxpy_ComputesAXPlusY) {
  rk::Kernel k = active("saxpy");
  constexpr uint32_t n = 1000;
  std::vector<float> x(n), y(n);
  for (uint32_t i = 0; i < n; ++i) {
    x[i] = float(i);
    y[i] = float(1000 - int(i)) + 0.5f;
  }
  const uint64_t corr = send_saxpy(k, 2.0f, x, y);
  rk::Message reply = k.receive(kWait);
  EXPECT_EQ(reply.correlation(), corr);
  EXPECT_EQ(reply.status(), RK_OK);
  EXPECT_EQ(reply.type(), kType);
  auto reader = reply.reader<Envelope>();
  auto result = reader.getRoot<Envelope>().getPayload().getAs<SaxpyReply>().getY();
  ASSERT_EQ(result.size(), n);
  for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(result[i], 2.0f * x[i] + y[i]) << "element " << i;
}

TEST_F(CapiTyped, ReduceSum_SumsTheValues) {
  rk::Kernel k = active("reduce_sum");
  constexpr uint32_t n = 4000;
  const uint64_t corr = k.send_typed<Envelope, ReduceSumRequest>(kType, 32 * 1024, [&](ReduceSumRequest::Builder req) {
    auto values = req.initValues(n);
    for (uint32_t i = 0; i < n; ++i) values.set(i, 0.5f * float(i + 1));
  });
  rk::Message reply = k.receive(kWait);
  EXPECT_EQ(reply.correlation(), corr);
  auto reader = reply.reader<Envelope>();
  // 0.5 * (1 + ... + n), exact in double.
  EXPECT_EQ(reader.getRoot<Envelope>().getPayload().getAs<ReduceSumReply>().getSum(), 0.5 * n * (n + 1) / 2);

  // An empty list sums to 0.
  k.send_typed<Envelope, ReduceSumRequest>(kType, 1024, [](ReduceSumRequest::Builder req) { req.initValues(0); });
  rk::Message empty = k.receive(kWait);
  auto empty_reader = empty.reader<Envelope>();
  EXPECT_EQ(empty_reader.getRoot<Envelope>().getPayload().getAs<ReduceSumReply>().getSum(), 0.0);
}

TEST_F(CapiTyped, SaxpyMismatchedLengths_ErrorReplyCountedKernelStillAnswers) {
  rk::Kernel k = active("saxpy");
  const uint64_t errors_before = k.metrics().errors;
  const uint64_t corr = send_saxpy(k, 1.0f, {1, 2, 3}, {1, 2, 3, 4});
  rk_status s = RK_OK;
  MessagePtr reply = next_reply(k, s);
  EXPECT_EQ(s, RK_E_MALFORMED) << why(s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(rk_message_status(reply.get()), RK_E_MALFORMED);
  EXPECT_EQ(rk_message_correlation(reply.get()), corr);
  reply.reset();

  rk_metrics m = k.metrics();
  EXPECT_EQ(m.errors, errors_before + 1);
  EXPECT_EQ(m.last_error, RK_E_MALFORMED);
  EXPECT_EQ(m.state, RK_STATE_ACTIVE);
  expect_saxpy_works(k);
}

TEST_F(CapiTyped, DataPayloadToSaxpy_Malformed) {
  rk::Kernel k = active("saxpy");
  const float raw[4] = {1, 2, 3, 4};
  rk_message* reply = nullptr;
  rk_status s = rk_call(k.get(), kType, raw, sizeof raw, &reply, kWait.count());
  MessagePtr owned(reply);
  EXPECT_EQ(s, RK_E_MALFORMED) << why(s);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(rk_message_status(reply), RK_E_MALFORMED);
  owned.reset();
  EXPECT_EQ(k.metrics().errors, 1u);
  expect_saxpy_works(k);
}

// Words of a hand-built Envelope whose payload is a SaxpyRequest struct
// (1 data word, 2 pointers). Its x list pointer points 1000 words past the
// end of the message; y is a valid list of 4 floats. The envelope itself
// frames correctly, so the library lets it through to the kernel.
std::vector<uint64_t> out_of_bounds_saxpy(uint32_t kernel, uint64_t correlation) {
  auto struct_ptr = [](int32_t off, uint16_t dw, uint16_t pc) {
    return uint64_t(uint32_t(off) << 2) | (uint64_t(dw) << 32) | (uint64_t(pc) << 48);
  };
  auto list_ptr = [](int32_t off, uint64_t elem, uint64_t count) {
    return 1u | uint64_t(uint32_t(off) << 2) | (elem << 32) | (count << 35);
  };
  constexpr uint64_t kFourBytes = 4;  // capnp element size code of Float32
  std::vector<uint64_t> seg;
  seg.push_back(struct_ptr(0, 4, 1));                             // 0: root -> Envelope at 1
  seg.push_back(uint64_t(kernel) | (uint64_t(kType) << 32));      // 1: kernel, type
  seg.push_back(correlation);                                     // 2: correlation
  seg.push_back(0);                                               // 3: hlc physical
  seg.push_back(0);                                               // 4: hlc logical, status, flags
  seg.push_back(struct_ptr(0, 1, 2));                             // 5: payload -> struct at 6
  uint32_t a_bits;
  const float a = 2.0f;
  std::memcpy(&a_bits, &a, 4);
  seg.push_back(a_bits);                                          // 6: a
  seg.push_back(list_ptr(1000, kFourBytes, 4));                   // 7: x -> far out of bounds
  seg.push_back(list_ptr(0, kFourBytes, 4));                      // 8: y -> 9..10
  seg.push_back(0x3f800000'3f800000ull);                          // 9: 1.0f, 1.0f
  seg.push_back(0x3f800000'3f800000ull);                          // 10
  std::vector<uint64_t> record;
  record.push_back(uint64_t(seg.size()) << 32);                   // framing: 1 segment of seg.size() words
  record.insert(record.end(), seg.begin(), seg.end());
  return record;
}

// Sends `words` as a whole record, zero copy.
void send_record(rk::Kernel& k, const std::vector<uint64_t>& words) {
  void* record = nullptr;
  rk_message* reservation = nullptr;
  RK_ASSERT_OK(rk_reserve_envelope(k.get(), 4096, &record, &reservation, kWait.count()));
  std::memcpy(record, words.data(), words.size() * 8);
  RK_ASSERT_OK(rk_commit_envelope(reservation, words.size() * 8));
}

TEST_F(CapiTyped, OutOfBoundsListPointer_ErrorReplyCountedKernelStillAnswers) {
  for (const char* kernel : {"saxpy", "echo", "reduce_sum"}) {
    SCOPED_TRACE(kernel);
    rk::Kernel k = active(kernel);
    constexpr uint64_t kCorrelation = 0xC0FFEE;
    ASSERT_NO_FATAL_FAILURE(send_record(k, out_of_bounds_saxpy(k.id(), kCorrelation)));
    rk_status s = RK_OK;
    MessagePtr reply = next_reply(k, s);
    ASSERT_TRUE(reply) << why(s);
    EXPECT_EQ(s, RK_E_MALFORMED) << why(s);
    EXPECT_EQ(rk_message_status(reply.get()), RK_E_MALFORMED);
    EXPECT_EQ(rk_message_correlation(reply.get()), kCorrelation);
    reply.reset();

    rk_metrics m = k.metrics();
    EXPECT_EQ(m.errors, 1u);
    EXPECT_EQ(m.last_error, RK_E_MALFORMED);
    EXPECT_EQ(m.state, RK_STATE_ACTIVE);
    if (std::string(kernel) == "saxpy") {
      expect_saxpy_works(k);
    } else {
      // Still answering: echo echoes, reduce_sum sums a well-formed request.
      rk_message* r = nullptr;
      s = std::string(kernel) == "echo" ? rk_call(k.get(), 1, "ping", 4, &r, kWait.count()) : RK_OK;
      MessagePtr owned(r);
      EXPECT_EQ(s, RK_OK) << why(s);
      if (std::string(kernel) == "reduce_sum") {
        k.send_typed<Envelope, ReduceSumRequest>(kType, 1024, [](ReduceSumRequest::Builder req) {
          auto v = req.initValues(2);
          v.set(0, 1.5f);
          v.set(1, 2.0f);
        });
        rk::Message sum = k.receive(kWait);
        auto reader = sum.reader<Envelope>();
        EXPECT_EQ(reader.getRoot<Envelope>().getPayload().getAs<ReduceSumReply>().getSum(), 3.5);
      }
    }
  }
}

TEST_F(CapiTyped, UnframedRecord_RefusedByTheLibraryNothingSent) {
  rk::Kernel k = active("echo");
  void* record = nullptr;
  rk_message* reservation = nullptr;
  RK_ASSERT_OK(rk_reserve_envelope(k.get(), 256, &record, &reservation, kWait.count()));
  const uint32_t framing[2] = {3, 4};  // claims 4 segments
  std::memcpy(record, framing, sizeof framing);
  EXPECT_EQ(rk_commit_envelope(reservation, 64), RK_E_MALFORMED);
  rk_message_release(reservation);  // the refused reservation is still ours to drop

  rk_message* reply = nullptr;
  RK_ASSERT_OK(rk_call(k.get(), 2, "after", 5, &reply, kWait.count()));
  EXPECT_EQ(bytes_of(reply).size(), 5u);
  rk_message_release(reply);
  EXPECT_EQ(k.metrics().processed, 1u) << "the refused record never reached the kernel";
}

}  // namespace
}  // namespace rk::test
