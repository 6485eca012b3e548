// Mutated records through the view, the copy and every built-in: whatever
// the bytes, nothing reads outside the record (run once under
// -DRINGKERNEL_SANITIZE=address to prove it), nothing writes outside the
// reply record, and every reply is a valid Envelope with a known status.
// RK_FUZZ_ITERATIONS overrides the number of records.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "kernels/registry.h"
#include "kernels/sdk/dispatch.h"
#include "mutations.h"
#include "records.h"
#include "rk_schema/kernels.capnp.h"

namespace rk {
namespace {

using test::Record;
using test::ReplyBuffer;
using test::mutate;

// Reads everything reachable, every element of every list, through every
// view type; returns a hash so nothing is optimised away.
uint64_t walk(const proto::PointerView& p, int depth) {
  if (depth > 24 || p.is_null()) return 0;
  uint64_t h = 1;
  if (p.is_struct()) {
    const proto::StructView s = p.as_struct();
    for (uint32_t off = 0; off < s.data_bytes() + 8; off += 4) h += s.get<uint32_t>(off);
    h += s.get_bool(9);
    for (uint16_t i = 0; i < s.pointer_count() && i < 4; ++i) h += walk(s.pointer(i), depth + 1);
    return h;
  }
  const proto::DataView d = p.as_data();
  for (uint32_t i = 0; i < d.size(); ++i) h += d.data()[i];
  const proto::ListView<uint16_t> shorts = p.as_list<uint16_t>();
  for (uint32_t i = 0; i <= shorts.size(); ++i) h += shorts[i];
  const proto::ListView<double> doubles = p.as_list<double>();
  for (uint32_t i = 0; i <= doubles.size(); ++i) h += uint64_t(doubles[i] == 0.0);
  const proto::StructListView structs = p.as_struct_list();
  for (uint32_t i = 0; i < structs.size() && i < 8; ++i) {
    const proto::StructView s = structs[i];
    for (uint32_t off = 0; off < s.data_bytes(); ++off) h += s.get<uint8_t>(off);
    for (uint16_t j = 0; j < s.pointer_count() && j < 2; ++j) h += walk(s.pointer(j), depth + 1);
  }
  const proto::PointerListView pointers = p.as_pointer_list();
  for (uint32_t i = 0; i < pointers.size() && i < 8; ++i) h += walk(pointers[i], depth + 1);
  return h;
}

TEST(Fuzz, MutatedRecords_NeverEscapeTheirBuffers) {
  uint64_t iterations = 300000;
  if (const char* env = std::getenv("RK_FUZZ_ITERATIONS")) iterations = std::strtoull(env, nullptr, 10);
  const std::vector<Record> base = test::seed_records();
  std::mt19937_64 rng(20240601);
  std::vector<uint64_t> state(2, 0);
  const uint32_t capacities[] = {32, 64, 128, 512, 4096};
  uint64_t parsed = 0, replies_ok = 0, hash = 0;
  uint64_t by_status[3] = {};  // ok, malformed, too_large

  for (uint64_t it = 0; it < iterations; ++it) {
    Record r = base[rng() % base.size()];
    mutate(r, rng);
    // An exactly sized copy, so a read past the end is a heap overflow.
    Record exact = r;
    exact.words.shrink_to_fit();

    MessageView m;
    if (MessageView::parse(exact.data(), exact.size(), &m)) {
      ++parsed;
      hash += walk(m.payload(), 0) + m.correlation();
    }
    for (const KernelDef& def : builtin_kernels()) {
      ReplyBuffer reply(capacities[rng() % std::size(capacities)], uint8_t(rng()));
      Context ctx(1, state.data(), def.state_bytes);
      const Handled h = handle_message(def.host_handler, ctx, exact.data(), exact.size(), reply.data(),
                                       reply.capacity(), false);
      ASSERT_TRUE(reply.guard_intact()) << def.name << " wrote past its reply record, iteration " << it;
      ASSERT_LE(h.reply_bytes, reply.capacity()) << def.name << " iteration " << it;
      ASSERT_TRUE(h.status == status::ok || h.status == status::malformed || h.status == status::too_large)
          << def.name << " status " << h.status << " iteration " << it;
      if (h.reply_bytes == 0) {
        ASSERT_LT(reply.capacity(), envelope_layout::kHeaderBytes) << def.name << " iteration " << it;
        continue;
      }
      ++replies_ok;
      ++by_status[h.status == status::ok ? 0 : h.status == status::malformed ? 1 : 2];
      // Every reply is an Envelope libcapnp reads in full.
      try {
        capnp::FlatArrayMessageReader check(reply.message(h.reply_bytes), test::strict_options());
        auto env = check.getRoot<schema::Envelope>();
        ASSERT_EQ(env.getStatus(), h.status);
        hash += env.totalSize().wordCount;
      } catch (const kj::Exception& e) {
        FAIL() << def.name << " produced an unreadable reply at iteration " << it << ": " << e.getDescription().cStr();
      }
    }
  }
  EXPECT_GT(parsed, iterations / 10) << "mutations too destructive to exercise the handlers";
  EXPECT_GT(replies_ok, iterations);
  for (uint64_t n : by_status) EXPECT_GT(n, iterations / 100) << "every outcome should be exercised";
  RecordProperty("hash", std::to_string(hash));
}

}  // namespace
}  // namespace rk
