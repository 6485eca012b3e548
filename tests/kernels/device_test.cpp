// The built-in kernels on a GPU, against the same records on the host: the
// device runs the same source with every lane of a block on one message, so
// its replies must match the host's (exactly, or within float rounding where
// the device fuses multiply-adds or sums in a different order). Skips itself
// without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "device_runner.h"
#include "kernels/builtin/builtins.h"
#include "kernels/registry.h"
#include "kernels/sdk/dispatch.h"
#include "mutations.h"
#include "records.h"
#include "rk_schema/kernels.capnp.h"

namespace rk {
namespace {

using builtin::Builtin;
using test::DeviceBatch;
using test::DeviceReplies;
using test::DeviceRun;
using test::LaneMode;
using test::Record;

class OnDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::device_available()) GTEST_SKIP() << "no CUDA device";
  }
};

// The same batch through the host handler, one lane, replies laid out as
// the device runner lays them out.
DeviceReplies run_on_host(const DeviceRun& run, const std::vector<Record>& records) {
  DeviceReplies out;
  const uint32_t stride = run.reply_capacity / 8;
  out.words.assign(stride * records.size(), 0);
  out.state.assign(run.state_bytes / 8 + 1, 0);
  const KernelDef& def = builtin_kernels()[run.builtin];
  for (size_t i = 0; i < records.size(); ++i) {
    Context ctx(uint32_t(i), out.state.data(), run.state_bytes);
    const Handled h = handle_message(def.host_handler, ctx, records[i].data(), records[i].size(),
                                     out.words.data() + i * stride, run.reply_capacity);
    out.bytes.push_back(h.reply_bytes);
    out.status.push_back(h.status);
  }
  return out;
}

DeviceReplies run_on_device(const DeviceRun& run, const std::vector<Record>& records) {
  DeviceBatch batch;
  for (const Record& r : records) batch.add(r.words);
  DeviceReplies out;
  const std::string err = test::run_on_device(run, batch, &out);
  EXPECT_EQ(err, "");
  return out;
}

capnp::FlatArrayMessageReader reader_of(const DeviceReplies& r, size_t i, uint32_t capacity) {
  return capnp::FlatArrayMessageReader(
      kj::arrayPtr(static_cast<const capnp::word*>(r.reply(i, capacity)), r.bytes[i] / 8), test::strict_options());
}

Record saxpy_request(uint32_t n, float a) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.setCorrelation(n);
    auto req = e.getPayload().initAs<schema::SaxpyRequest>();
    req.setA(a);
    auto x = req.initX(n), y = req.initY(n);
    for (uint32_t i = 0; i < n; ++i) x.set(i, 0.37f * float(i) - 11.f), y.set(i, 5.f - 0.01f * float(i));
  });
}

Record reduce_request(uint32_t n) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    auto values = e.getPayload().initAs<schema::ReduceSumRequest>().initValues(n);
    for (uint32_t i = 0; i < n; ++i) values.set(i, std::sin(float(i)) * 100.f);
  });
}

Record data_request(uint32_t n) {
  return test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.setType(n);
    auto data = e.getPayload().initAs<capnp::Data>(n);
    for (uint32_t i = 0; i < n; ++i) data[i] = kj::byte(i * 13 + 1);
  });
}

// The lane shapes every test runs under: whole blocks of a few sizes (a
// partial warp among them) and single warps, each with a zeroed and a
// garbage reply record.
std::vector<DeviceRun> block_runs(Builtin which, uint32_t capacity) {
  std::vector<DeviceRun> runs;
  for (uint32_t threads : {256u, 96u, 33u, 1u})
    for (bool zeroed : {true, false}) {
      DeviceRun run;
      run.builtin = uint32_t(which);
      run.threads = threads;
      run.zeroed = zeroed;
      run.reply_capacity = capacity;
      runs.push_back(run);
    }
  // And warps, one message each (what the persistent kernel runs for
  // handlers that are not block-wide).
  for (bool zeroed : {true, false}) {
    DeviceRun run;
    run.builtin = uint32_t(which);
    run.mode = LaneMode::warp_per_message;
    run.threads = 64;
    run.zeroed = zeroed;
    run.reply_capacity = capacity;
    runs.push_back(run);
  }
  return runs;
}

std::string describe(const DeviceRun& run) {
  return "threads " + std::to_string(run.threads) + (run.zeroed ? " zeroed" : " garbage") +
         (run.mode == LaneMode::thread_per_message ? " thread-per-message"
          : run.mode == LaneMode::warp_per_message ? " warp-per-message"
                                                   : "");
}

TEST_F(OnDevice, Echo_RepliesByteForByteAsTheHost) {
  std::vector<Record> records;
  for (uint32_t n : {0u, 1u, 7u, 8u, 9u, 1000u, 20000u}) records.push_back(data_request(n));
  for (uint32_t n : {0u, 3u, 300u}) records.push_back(saxpy_request(n, 2.f));
  for (const Record& r : test::seed_records()) records.push_back(r);
  for (const DeviceRun& run : block_runs(Builtin::echo, 32768)) {
    const DeviceReplies host = run_on_host(run, records), device = run_on_device(run, records);
    ASSERT_EQ(device.bytes.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(device.status[i], status::ok) << describe(run) << " record " << i;
      ASSERT_EQ(device.bytes[i], host.bytes[i]) << describe(run) << " record " << i;
      EXPECT_EQ(std::memcmp(device.reply(i, run.reply_capacity), host.reply(i, run.reply_capacity), host.bytes[i]), 0)
          << describe(run) << " record " << i;
    }
  }
}

TEST_F(OnDevice, Saxpy_MatchesTheHostWithinRounding) {
  std::vector<Record> records;
  for (uint32_t n : {0u, 1u, 32u, 95u, 96u, 97u, 255u, 256u, 257u, 3000u}) records.push_back(saxpy_request(n, -1.7f));
  for (const DeviceRun& run : block_runs(Builtin::saxpy, 16384)) {
    const DeviceReplies host = run_on_host(run, records), device = run_on_device(run, records);
    ASSERT_EQ(device.bytes.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      ASSERT_EQ(device.status[i], status::ok) << describe(run) << " record " << i;
      ASSERT_EQ(device.bytes[i], host.bytes[i]) << describe(run) << " record " << i;
      auto d = reader_of(device, i, run.reply_capacity);
      auto h = reader_of(host, i, run.reply_capacity);
      auto dy = d.getRoot<schema::Envelope>().getPayload().getAs<schema::SaxpyReply>().getY();
      auto hy = h.getRoot<schema::Envelope>().getPayload().getAs<schema::SaxpyReply>().getY();
      ASSERT_EQ(dy.size(), hy.size());
      for (uint32_t k = 0; k < dy.size(); ++k)  // the device may fuse a*x+y into one rounding
        ASSERT_NEAR(dy[k], hy[k], 1e-6 * (1 + std::fabs(hy[k]) + std::fabs(1.7 * (0.37 * k - 11))))
            << describe(run) << " record " << i << " element " << k;
    }
  }
}

TEST_F(OnDevice, ReduceSum_MatchesTheHostWithinRounding) {
  std::vector<Record> records;
  for (uint32_t n : {0u, 1u, 33u, 1000u, 100000u}) records.push_back(reduce_request(n));
  for (const DeviceRun& run : block_runs(Builtin::reduce_sum, 256)) {
    const DeviceReplies host = run_on_host(run, records), device = run_on_device(run, records);
    ASSERT_EQ(device.bytes.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      ASSERT_EQ(device.status[i], status::ok) << describe(run) << " record " << i;
      auto d = reader_of(device, i, run.reply_capacity);
      auto h = reader_of(host, i, run.reply_capacity);
      const double ds = d.getRoot<schema::Envelope>().getPayload().getAs<schema::ReduceSumReply>().getSum();
      const double hs = h.getRoot<schema::Envelope>().getPayload().getAs<schema::ReduceSumReply>().getSum();
      EXPECT_NEAR(ds, hs, 1e-9 * 100 * 100000) << describe(run) << " record " << i;
    }
  }
}

TEST_F(OnDevice, Counter_ConcurrentMessagesSeeDistinctTotals) {
  constexpr int64_t kMessages = 2000;
  int64_t one = 1;
  const Record req = test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.getPayload().setAs<capnp::Data>(kj::arrayPtr(reinterpret_cast<const kj::byte*>(&one), 8));
  });
  const std::vector<Record> records(kMessages, req);
  for (LaneMode mode : {LaneMode::block_per_message, LaneMode::thread_per_message, LaneMode::warp_per_message}) {
    DeviceRun run;
    run.builtin = uint32_t(Builtin::counter);
    run.mode = mode;
    run.threads = 64;
    run.reply_capacity = 128;
    run.state_bytes = builtin::kCounterStateBytes;
    const DeviceReplies device = run_on_device(run, records);
    ASSERT_EQ(device.bytes.size(), records.size());
    std::vector<int64_t> totals;
    for (size_t i = 0; i < records.size(); ++i) {
      ASSERT_EQ(device.status[i], status::ok);
      auto d = reader_of(device, i, run.reply_capacity);
      auto data = d.getRoot<schema::Envelope>().getPayload().getAs<capnp::Data>();
      ASSERT_EQ(data.size(), 8u);
      int64_t total;
      std::memcpy(&total, data.begin(), 8);
      totals.push_back(total);
    }
    std::sort(totals.begin(), totals.end());
    for (int64_t i = 0; i < kMessages; ++i) ASSERT_EQ(totals[i], i + 1) << describe(run);
    EXPECT_EQ(int64_t(device.state[0]), kMessages);
  }
}

TEST_F(OnDevice, MutatedRecords_SameOutcomeAsTheHost_NoFault) {
  const std::vector<Record> seeds = test::seed_records();
  std::mt19937_64 rng(777);
  std::vector<Record> records;
  for (int i = 0; i < 20000; ++i) {
    Record r = seeds[rng() % seeds.size()];
    test::mutate(r, rng);
    records.push_back(r);
  }
  for (uint32_t which = 0; which < uint32_t(Builtin::count); ++which) {
    for (LaneMode mode : {LaneMode::block_per_message, LaneMode::thread_per_message, LaneMode::warp_per_message}) {
      DeviceRun run;
      run.builtin = which;
      run.mode = mode;
      run.threads = 64;
      run.reply_capacity = 512;
      run.zeroed = mode == LaneMode::block_per_message;
      const DeviceReplies host = run_on_host(run, records), device = run_on_device(run, records);
      ASSERT_EQ(device.bytes.size(), records.size()) << builtin_kernels()[which].name;
      size_t differ = 0;
      for (size_t i = 0; i < records.size(); ++i) {
        if (device.status[i] != host.status[i] || device.bytes[i] != host.bytes[i]) ++differ;
        // Byte-exact where the result does not depend on rounding or order.
        if (which == uint32_t(Builtin::echo) && device.bytes[i] == host.bytes[i] &&
            std::memcmp(device.reply(i, run.reply_capacity), host.reply(i, run.reply_capacity), host.bytes[i]) != 0)
          ++differ;
      }
      EXPECT_EQ(differ, 0u) << builtin_kernels()[which].name << " " << describe(run);
    }
  }
}

}  // namespace
}  // namespace rk
