// The built-in kernels driven on the host, as the CPU backend runs them:
// through the registry's handler pointer and handle_message().
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "kernels/builtin/builtins.h"
#include "kernels/registry.h"
#include "kernels/sdk/dispatch.h"
#include "records.h"
#include "rk_schema/kernels.capnp.h"

namespace rk {
namespace {

using test::Record;
using test::ReplyBuffer;

// One kernel instance on the host: its state and a reply record.
class Instance {
 public:
  explicit Instance(const char* name, uint32_t reply_capacity = 1 << 16)
      : def_(find_builtin(name)), reply_(reply_capacity, 0x3C) {
    EXPECT_NE(def_, nullptr) << name;
    state_.assign(def_->state_bytes / 8 + 1, 0);
  }
  Handled send(const Record& request) {
    Context ctx(9, state_.data(), def_->state_bytes);
    const Handled h = handle_message(def_->host_handler, ctx, request.data(), request.size(), reply_.data(),
                                     reply_.capacity());
    EXPECT_TRUE(reply_.guard_intact());
    EXPECT_LE(h.reply_bytes, reply_.capacity());
    EXPECT_GT(h.reply_bytes, 0u);
    reader_.emplace(reply_.message(h.reply_bytes), test::strict_options());
    EXPECT_EQ(reply().getStatus(), h.status);
    return h;
  }
  schema::Envelope::Reader reply() { return reader_->getRoot<schema::Envelope>(); }
  const ReplyBuffer& reply_buffer() const { return reply_; }

 private:
  const KernelDef* def_;
  std::vector<uint64_t> state_;
  ReplyBuffer reply_;
  std::optional<capnp::FlatArrayMessageReader> reader_;
};

Record data_request(const void* bytes, size_t n, uint32_t type = 1, uint64_t correlation = 2) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.setType(type);
    e.setCorrelation(correlation);
    static const kj::byte kNothing = 0;  // capnp memcpy()s even zero bytes; never from nullptr
    e.getPayload().setAs<capnp::Data>(kj::arrayPtr(n ? static_cast<const kj::byte*>(bytes) : &kNothing, n));
  });
}

Record delta(int64_t d, uint64_t correlation = 0) { return data_request(&d, sizeof d, 1, correlation); }

Record saxpy_request(float a, const std::vector<float>& x, const std::vector<float>& y) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.setCorrelation(11);
    auto req = e.getPayload().initAs<schema::SaxpyRequest>();
    req.setA(a);
    auto xs = req.initX(uint32_t(x.size()));
    for (uint32_t i = 0; i < x.size(); ++i) xs.set(i, x[i]);
    auto ys = req.initY(uint32_t(y.size()));
    for (uint32_t i = 0; i < y.size(); ++i) ys.set(i, y[i]);
  });
}

Record reduce_request(const std::vector<float>& values) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    auto list = e.getPayload().initAs<schema::ReduceSumRequest>().initValues(uint32_t(values.size()));
    for (uint32_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
  });
}

// ---- echo ---------------------------------------------------------------

TEST(Echo, DataOfEverySize_ComesBackWithTypeAndCorrelation) {
  Instance echo("echo");
  for (size_t n : {0, 1, 7, 8, 9, 1000, 40000}) {
    std::vector<uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = uint8_t(i * 31 + 7);
    const Handled h = echo.send(data_request(bytes.data(), n, 77, 1000 + n));
    EXPECT_EQ(h.status, status::ok);
    EXPECT_EQ(echo.reply().getType(), 77u);
    EXPECT_EQ(echo.reply().getCorrelation(), 1000 + n);
    auto got = echo.reply().getPayload().getAs<capnp::Data>();
    ASSERT_EQ(got.size(), n);
    if (n) {
      EXPECT_EQ(std::memcmp(got.begin(), bytes.data(), n), 0);
    }
  }
}

TEST(Echo, StructPayload_ComesBackEqual) {
  Instance echo("echo");
  Record req = saxpy_request(2.f, {1, 2, 3}, {4, 5, 6});
  EXPECT_EQ(echo.send(req).status, status::ok);
  capnp::FlatArrayMessageReader original(kj::arrayPtr(reinterpret_cast<const capnp::word*>(req.data()), req.size() / 8));
  EXPECT_TRUE(echo.reply().getPayload() == original.getRoot<schema::Envelope>().getPayload());
  EXPECT_EQ(echo.reply().getCorrelation(), 11u);
}

TEST(Echo, NullPayload_ComesBackNull) {
  Instance echo("echo");
  EXPECT_EQ(echo.send(test::capnp_envelope([](auto e) { e.setType(5); })).status, status::ok);
  EXPECT_TRUE(echo.reply().getPayload().isNull());
  EXPECT_EQ(echo.reply().getType(), 5u);
}

TEST(Echo, PayloadBiggerThanTheReplyRecord_TooLarge) {
  Instance echo("echo", 1024);
  std::vector<uint8_t> big(4096, 1);
  EXPECT_EQ(echo.send(data_request(big.data(), big.size(), 1, 8)).status, status::too_large);
  EXPECT_EQ(echo.reply().getCorrelation(), 8u);
  EXPECT_TRUE(echo.reply().getPayload().isNull());
  Instance echo_struct("echo", 256);
  EXPECT_EQ(echo_struct.send(saxpy_request(1, std::vector<float>(100), std::vector<float>(100))).status,
            status::too_large);
}

TEST(Echo, DeeplyNestedPayload_Malformed) {
  // 40 nested single-pointer structs: deeper than the nesting limit.
  std::vector<uint64_t> seg = {proto::struct_pointer(0, 4, 1), 0, 0, 0, 0, proto::struct_pointer(0, 0, 1)};
  for (int i = 0; i < 40; ++i) seg.push_back(proto::struct_pointer(0, 0, 1));
  seg.push_back(0);
  Record r;
  r.words.push_back(uint64_t(seg.size()) << 32);
  r.words.insert(r.words.end(), seg.begin(), seg.end());
  Instance echo("echo");
  EXPECT_EQ(echo.send(r).status, status::malformed);
}

TEST(Echo, OneListPointedToManyTimes_RefusedNotAmplified) {
  // 500 pointers to one 200-word list: a 5.7 KiB request that would copy
  // into 800 KiB.
  constexpr uint32_t kEntries = 500, kWords = 200;
  std::vector<uint64_t> seg = {proto::struct_pointer(0, 4, 1), 0, 0, 0, 0,
                               proto::list_pointer(0, proto::ElementSize::pointer, kEntries)};
  for (uint32_t i = 0; i < kEntries; ++i)
    seg.push_back(proto::list_pointer(int32_t(kEntries - i - 1), proto::ElementSize::eight_bytes, kWords));
  seg.resize(seg.size() + kWords, 3);
  Record r;
  r.words.push_back(uint64_t(seg.size()) << 32);
  r.words.insert(r.words.end(), seg.begin(), seg.end());
  Instance echo("echo", 1 << 20);
  const Handled h = echo.send(r);
  EXPECT_EQ(h.status, status::malformed) << "the traversal budget stops the copy";
  EXPECT_EQ(h.reply_bytes, envelope_layout::kHeaderBytes);
}

// ---- counter --------------------------------------------------------------

int64_t total_of(Instance& counter) {
  auto d = counter.reply().getPayload().getAs<capnp::Data>();
  EXPECT_EQ(d.size(), 8u);
  int64_t v = 0;
  std::memcpy(&v, d.begin(), std::min<size_t>(d.size(), 8));
  return v;
}

TEST(Counter, Deltas_GiveTheRunningTotal) {
  Instance counter("counter");
  int64_t expected = 0;
  for (int64_t d : std::initializer_list<int64_t>{5, -3, 1000000000000LL, 0, -1000000000002LL}) {
    expected += d;
    ASSERT_EQ(counter.send(delta(d, uint64_t(d))).status, status::ok);
    EXPECT_EQ(total_of(counter), expected);
    EXPECT_EQ(counter.reply().getCorrelation(), uint64_t(d));
  }
}

TEST(Counter, WrongPayloadSizeOrKind_MalformedAndTotalUnchanged) {
  Instance counter("counter");
  ASSERT_EQ(counter.send(delta(10)).status, status::ok);
  const uint8_t seven[7] = {}, nine[9] = {};
  EXPECT_EQ(counter.send(data_request(seven, 7)).status, status::malformed);
  EXPECT_TRUE(counter.reply().getPayload().isNull());
  EXPECT_EQ(counter.send(data_request(nine, 9)).status, status::malformed);
  EXPECT_EQ(counter.send(data_request(nullptr, 0)).status, status::malformed);
  EXPECT_EQ(counter.send(test::capnp_envelope([](auto) {})).status, status::malformed);
  EXPECT_EQ(counter.send(reduce_request({1, 2})).status, status::malformed);
  ASSERT_EQ(counter.send(delta(1)).status, status::ok);
  EXPECT_EQ(total_of(counter), 11);
}

TEST(Counter, WithoutState_Internal) {
  Record req = delta(1);
  ReplyBuffer buf(256);
  Context ctx(1, nullptr, 0);
  EXPECT_EQ(handle_message(&builtin::counter, ctx, req.data(), req.size(), buf.data(), buf.capacity()).status,
            status::internal);
}

// ---- saxpy ----------------------------------------------------------------

TEST(Saxpy, Vectors_GiveAXPlusY) {
  Instance saxpy("saxpy");
  std::vector<float> x(1000), y(1000);
  for (int i = 0; i < 1000; ++i) x[i] = 0.5f * i, y[i] = 3.f - i;
  ASSERT_EQ(saxpy.send(saxpy_request(-2.f, x, y)).status, status::ok);
  EXPECT_EQ(saxpy.reply().getCorrelation(), 11u);
  auto result = saxpy.reply().getPayload().getAs<schema::SaxpyReply>().getY();
  ASSERT_EQ(result.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(result[i], -2.f * x[i] + y[i]) << i;
}

TEST(Saxpy, EmptyVectorsOrNullPayload_GiveEmptyResult) {
  Instance saxpy("saxpy");
  ASSERT_EQ(saxpy.send(saxpy_request(1, {}, {})).status, status::ok);
  EXPECT_EQ(saxpy.reply().getPayload().getAs<schema::SaxpyReply>().getY().size(), 0u);
  ASSERT_EQ(saxpy.send(test::capnp_envelope([](auto) {})).status, status::ok);
  EXPECT_EQ(saxpy.reply().getPayload().getAs<schema::SaxpyReply>().getY().size(), 0u);
}

TEST(Saxpy, MismatchedLengths_Malformed) {
  Instance saxpy("saxpy");
  EXPECT_EQ(saxpy.send(saxpy_request(1, {1, 2, 3}, {1, 2})).status, status::malformed);
  EXPECT_TRUE(saxpy.reply().getPayload().isNull());
  EXPECT_EQ(saxpy.send(saxpy_request(1, {}, {1})).status, status::malformed);
}

TEST(Saxpy, WrongPayloadKind_Malformed) {
  Instance saxpy("saxpy");
  const float raw[4] = {1, 2, 3, 4};
  EXPECT_EQ(saxpy.send(data_request(raw, sizeof raw)).status, status::malformed);
  // x as Data (bytes are narrower than floats).
  Record bytes_for_x = test::capnp_envelope([](schema::Envelope::Builder e) {
    e.getPayload().initAsAnyStruct(1, 2);
  });
  bytes_for_x.seg(7) = proto::list_pointer(1, proto::ElementSize::byte, 4);  // x -> the word after y
  bytes_for_x.words.push_back(0);
  bytes_for_x.word(0) += uint64_t(1) << 32;
  EXPECT_EQ(saxpy.send(bytes_for_x).status, status::malformed);
}

TEST(Saxpy, ReplyTooBigForItsRecord_TooLarge) {
  Instance saxpy("saxpy", 1024);
  std::vector<float> v(1000, 1.f);
  EXPECT_EQ(saxpy.send(saxpy_request(1, v, v)).status, status::too_large);
  EXPECT_TRUE(saxpy.reply().getPayload().isNull());
}

// ---- reduce_sum -------------------------------------------------------------

TEST(ReduceSum, Values_SumInDouble) {
  Instance reduce("reduce_sum");
  std::vector<float> v(4097);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * float(i % 17) - 0.7f;
  ASSERT_EQ(reduce.send(reduce_request(v)).status, status::ok);
  double expected = 0;
  for (float f : v) expected += f;
  EXPECT_EQ(reduce.reply().getPayload().getAs<schema::ReduceSumReply>().getSum(), expected);
}

TEST(ReduceSum, EmptyOrNull_SumZero) {
  Instance reduce("reduce_sum");
  ASSERT_EQ(reduce.send(reduce_request({})).status, status::ok);
  EXPECT_EQ(reduce.reply().getPayload().getAs<schema::ReduceSumReply>().getSum(), 0.0);
  ASSERT_EQ(reduce.send(test::capnp_envelope([](auto) {})).status, status::ok);
  EXPECT_EQ(reduce.reply().getPayload().getAs<schema::ReduceSumReply>().getSum(), 0.0);
}

TEST(ReduceSum, WrongPayloadKind_Malformed) {
  Instance reduce("reduce_sum");
  const float raw[2] = {1, 2};
  EXPECT_EQ(reduce.send(data_request(raw, sizeof raw)).status, status::malformed);
  Record list_not_struct = test::capnp_envelope([](schema::Envelope::Builder e) {
    e.getPayload().initAs<capnp::List<float>>(2);
  });
  EXPECT_EQ(reduce.send(list_not_struct).status, status::malformed);
}

TEST(ReduceSum, ValuesPointerOutOfBounds_Malformed) {
  Record r = reduce_request({1, 2, 3});
  // The values pointer sits at segment word 6 (the payload struct's only word).
  r.seg(6) = proto::list_pointer(0, proto::ElementSize::four_bytes, 1000);
  Instance reduce("reduce_sum");
  EXPECT_EQ(reduce.send(r).status, status::malformed);
}

// ---- truncated and garbage records, every kernel ------------------------------

TEST(Builtins, TruncatedOrGarbageRecords_MalformedNeverACrash) {
  std::vector<float> v(64, 2.f);
  const Record good[] = {saxpy_request(1, v, v), reduce_request(v), delta(3)};
  for (const KernelDef& def : builtin_kernels()) {
    Instance instance(def.name);
    for (const Record& g : good) {
      for (size_t words = 0; words < g.words.size(); ++words) {
        Record cut;
        cut.words.assign(g.words.begin(), g.words.begin() + words);
        if (cut.words.empty()) cut.words.push_back(0);
        EXPECT_EQ(instance.send(cut).status, status::malformed) << def.name << " cut to " << words << " words";
        // Same words, framing fixed up to claim only what is there.
        if (words >= 2) {
          cut.word(0) = uint64_t(words - 1) << 32;
          const uint16_t s = instance.send(cut).status;
          EXPECT_TRUE(s == status::ok || s == status::malformed) << def.name << " " << s;
        }
      }
    }
  }
}

}  // namespace
}  // namespace rk
