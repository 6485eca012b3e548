// The SDK's reader against libcapnp's writer, and against hand-made hostile
// records.
#include "kernels/sdk/capnp_view.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/builtin/layouts.h"
#include "kernels/sdk/message.h"
#include "records.h"
#include "rk_schema/kernels.capnp.h"
#include "shm/envelope.h"

namespace rk {
namespace {

using proto::ElementSize;
using proto::list_pointer;
using proto::struct_pointer;
using test::Record;

// A framed record around hand-made segment words.
Record framed(std::vector<uint64_t> segment) {
  Record r;
  r.words.push_back(uint64_t(segment.size()) << 32);
  r.words.insert(r.words.end(), segment.begin(), segment.end());
  return r;
}

// An Envelope root (4 data words, 1 pointer) whose payload pointer is
// `payload`, followed by `rest`. Segment word 6 is the first after it.
Record envelope_words(uint64_t payload, std::vector<uint64_t> rest = {}) {
  std::vector<uint64_t> seg = {struct_pointer(0, 4, 1), 0, 0, 0, 0, payload};
  seg.insert(seg.end(), rest.begin(), rest.end());
  return framed(seg);
}

MessageView parsed(const Record& r) {
  MessageView m;
  EXPECT_TRUE(MessageView::parse(r.data(), r.size(), &m));
  return m;
}

TEST(CapnpView, EnvelopeBuiltByCapnp_FieldsAndDataPayloadRead) {
  const std::vector<uint8_t> bytes = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  Record r = test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.setKernel(0xDEADBEEF);
    e.setType(7);
    e.setCorrelation(0x0123456789ABCDEFull);
    e.setHlcPhysical(0xFEDCBA9876543210ull);
    e.setHlcLogical(0x80000001);
    e.setStatus(0xFFFE);
    e.setFlags(0x8001);
    e.getPayload().setAs<capnp::Data>(kj::arrayPtr(bytes.data(), bytes.size()));
  });
  MessageView m = parsed(r);
  EXPECT_EQ(m.kernel(), 0xDEADBEEFu);
  EXPECT_EQ(m.type(), 7u);
  EXPECT_EQ(m.correlation(), 0x0123456789ABCDEFull);
  EXPECT_EQ(m.hlc_physical(), 0xFEDCBA9876543210ull);
  EXPECT_EQ(m.hlc_logical(), 0x80000001u);
  EXPECT_EQ(m.status(), 0xFFFE);
  EXPECT_EQ(m.flags(), 0x8001);
  const proto::DataView d = m.payload_data();
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::vector<uint8_t>(d.data(), d.data() + d.size()), bytes);
  EXPECT_FALSE(m.payload_struct().ok()) << "Data is not a struct";
}

TEST(CapnpView, SaxpyRequestBuiltByCapnp_ReadThroughPayloadStruct) {
  Record r = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto req = e.getPayload().initAs<schema::SaxpyRequest>();
    req.setA(2.5f);
    auto x = req.initX(5), y = req.initY(5);
    for (uint32_t i = 0; i < 5; ++i) x.set(i, float(i)), y.set(i, -float(i) / 2);
  });
  MessageView m = parsed(r);
  using L = builtin::layout::SaxpyRequest;
  const proto::StructView s = m.payload_struct();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.get<float>(L::kA), 2.5f);
  const proto::ListView<float> x = s.get_list<float>(L::kX), y = s.get_list<float>(L::kY);
  ASSERT_TRUE(x.ok() && y.ok());
  ASSERT_EQ(x.size(), 5u);
  ASSERT_EQ(y.size(), 5u);
  EXPECT_TRUE(x.contiguous());
  for (uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(x[i], float(i));
    EXPECT_EQ(y[i], -float(i) / 2);
  }
  EXPECT_EQ(x[5], 0.f) << "out of range reads 0";
  EXPECT_FALSE(m.payload_data().ok()) << "a struct is not Data";
}

template <class T>
void expect_list_round_trip(std::vector<T> values) {
  Record r = test::capnp_envelope([&](schema::Envelope::Builder e) {
    auto list = e.getPayload().initAs<capnp::List<T>>(uint32_t(values.size()));
    for (uint32_t i = 0; i < values.size(); ++i) list.set(i, values[i]);
  });
  MessageView m = parsed(r);
  const proto::ListView<T> v = m.payload().as_list<T>();
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v.size(), values.size());
  for (uint32_t i = 0; i < values.size(); ++i) EXPECT_EQ(v[i], values[i]) << i;
}

TEST(CapnpView, PrimitiveListsOfEveryWidth_ReadAsCapnpWroteThem) {
  expect_list_round_trip<int8_t>({-128, 0, 1, 127, 5});
  expect_list_round_trip<uint8_t>({0, 255, 3});
  expect_list_round_trip<int16_t>({-32768, 32767, 0, 9});
  expect_list_round_trip<uint16_t>({65535, 1});
  expect_list_round_trip<int32_t>({INT32_MIN, INT32_MAX, -1});
  expect_list_round_trip<uint32_t>({UINT32_MAX, 0, 42});
  expect_list_round_trip<int64_t>({INT64_MIN, INT64_MAX, -7});
  expect_list_round_trip<uint64_t>({UINT64_MAX, 1});
  expect_list_round_trip<float>({1.5f, -0.f, 3e38f});
  expect_list_round_trip<double>({1e308, -2.25, 0.1});
  expect_list_round_trip<float>({});
}

TEST(CapnpView, StructAndPointerListsBuiltByCapnp_Read) {
  Record r = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto list = e.getPayload().initAs<capnp::List<schema::SaxpyRequest>>(3);
    for (uint32_t i = 0; i < 3; ++i) {
      list[i].setA(float(i) + 0.5f);
      list[i].initX(i + 1).set(i, 9.f);
    }
  });
  MessageView m = parsed(r);
  const proto::StructListView list = m.payload().as_struct_list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(list[i].get<float>(0), float(i) + 0.5f);
    const proto::ListView<float> x = list[i].get_list<float>(0);
    ASSERT_EQ(x.size(), i + 1);
    EXPECT_EQ(x[i], 9.f);
  }
  EXPECT_FALSE(list[3].ok());

  Record blobs = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto blob_list = e.getPayload().initAs<capnp::List<capnp::Data>>(2);
    blob_list.set(0, kj::heapArray<kj::byte>({1, 2, 3}));
    blob_list.set(1, kj::heapArray<kj::byte>({4}));
  });
  MessageView b = parsed(blobs);
  const proto::PointerListView pointers = b.payload().as_pointer_list();
  ASSERT_TRUE(pointers.ok());
  ASSERT_EQ(pointers.size(), 2u);
  EXPECT_EQ(pointers[0].as_data().size(), 3u);
  EXPECT_EQ(pointers[0].as_data().data()[2], 3);
  EXPECT_EQ(pointers[1].as_data().data()[0], 4);

  Record nested = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto outer = e.getPayload().initAs<capnp::List<capnp::List<float>>>(2);
    outer.init(1, 2).set(1, 6.f);
  });
  MessageView n = parsed(nested);
  const proto::PointerListView outer = n.payload().as_pointer_list();
  ASSERT_EQ(outer.size(), 2u);
  EXPECT_EQ(outer[0].as_list<float>().size(), 0u);
  EXPECT_EQ(outer[1].as_list<float>()[1], 6.f);
}

TEST(CapnpView, NullPayload_ReadsAsEmptyDataAndEmptyStruct) {
  Record r = test::capnp_envelope([](schema::Envelope::Builder e) { e.setType(3); });
  MessageView m = parsed(r);
  EXPECT_TRUE(m.payload().is_null());
  EXPECT_TRUE(m.payload_data().ok());
  EXPECT_EQ(m.payload_data().size(), 0u);
  const proto::StructView s = m.payload_struct();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.get<uint64_t>(0), 0u);
  EXPECT_EQ(s.get_list<float>(0).size(), 0u);
}

TEST(CapnpView, FieldsBeyondAShorterDataSection_ReadAsZero) {
  // An older sender whose Envelope had one data word and no payload.
  Record r = framed({struct_pointer(0, 1, 0), 0x0000000700000005ull});
  MessageView m = parsed(r);
  EXPECT_EQ(m.kernel(), 5u);
  EXPECT_EQ(m.type(), 7u);
  EXPECT_EQ(m.correlation(), 0u);
  EXPECT_EQ(m.status(), 0u);
  EXPECT_TRUE(m.payload().is_null());

  proto::MessageReader reader;
  ASSERT_TRUE(proto::MessageReader::open(r.data(), r.size(), &reader));
  EXPECT_EQ(reader.root().get<uint32_t>(8), 0u) << "beyond the data section";
  EXPECT_EQ(reader.root().get<uint32_t>(2), 0u) << "misaligned";
  EXPECT_EQ(reader.root().get<uint16_t>(4), 7u);
  EXPECT_TRUE(reader.root().get_bool(0));
  EXPECT_FALSE(reader.root().get_bool(64));
}

TEST(CapnpView, WiderListsReadAsNarrower_AgreeWithCapnp) {
  Record wide = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto list = e.getPayload().initAs<capnp::List<double>>(3);
    for (uint32_t i = 0; i < 3; ++i) list.set(i, 1.0 + i);
  });
  Record structs = test::capnp_envelope([](schema::Envelope::Builder e) {
    auto list = e.getPayload().initAs<capnp::List<schema::SaxpyRequest>>(3);
    for (uint32_t i = 0; i < 3; ++i) list[i].setA(10.f * i);
  });
  for (Record* r : {&wide, &structs}) {
    capnp::FlatArrayMessageReader capnp_reader(kj::arrayPtr(reinterpret_cast<const capnp::word*>(r->data()), r->size() / 8));
    auto expected = capnp_reader.getRoot<schema::Envelope>().getPayload().getAs<capnp::List<float>>();
    MessageView m = parsed(*r);
    const proto::ListView<float> got = m.payload().as_list<float>();
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_FALSE(got.contiguous());
    for (uint32_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]);
  }
}

TEST(CapnpView, IncompatibleShapes_AreNotOk) {
  Record data = test::capnp_envelope([](schema::Envelope::Builder e) {
    e.getPayload().setAs<capnp::Data>(kj::heapArray<kj::byte>({1, 2, 3, 4}));
  });
  MessageView m = parsed(data);
  EXPECT_FALSE(m.payload().as_list<float>().ok()) << "bytes are narrower than floats";
  EXPECT_FALSE(m.payload().as_pointer_list().ok());
  EXPECT_FALSE(m.payload_struct().ok());

  Record floats = test::capnp_envelope([](schema::Envelope::Builder e) { e.getPayload().initAs<capnp::List<float>>(2); });
  EXPECT_FALSE(parsed(floats).payload_data().ok()) << "Data must be a byte list";

  Record bits = envelope_words(list_pointer(0, ElementSize::bit, 10), {0x3FF});
  MessageView b = parsed(bits);
  EXPECT_FALSE(b.payload().as_list<uint8_t>().ok());
  EXPECT_FALSE(b.payload().as_struct_list().ok());

  Record req = test::capnp_envelope([](schema::Envelope::Builder e) { e.getPayload().initAs<schema::SaxpyRequest>(); });
  EXPECT_FALSE(parsed(req).payload().as_list<float>().ok()) << "a struct is not a list";
}

// ---- hostile records -------------------------------------------------------

TEST(CapnpViewHostile, BadFraming_IsRefused) {
  MessageView m;
  Record good = envelope_words(0);
  ASSERT_TRUE(MessageView::parse(good.data(), good.size(), &m));
  EXPECT_FALSE(MessageView::parse(nullptr, good.size(), &m));
  EXPECT_FALSE(MessageView::parse(good.data(), good.size() - 8, &m)) << "segment longer than the record";
  EXPECT_FALSE(MessageView::parse(good.data(), good.size() - 3, &m)) << "not whole words";
  EXPECT_FALSE(MessageView::parse(good.data(), 8, &m));
  EXPECT_FALSE(MessageView::parse(good.bytes() + 4, good.size() - 8, &m)) << "misaligned";
  Record two_segments = good;
  two_segments.word(0) |= 1;
  EXPECT_FALSE(MessageView::parse(two_segments.data(), two_segments.size(), &m));
  Record short_segment = good;
  short_segment.word(0) -= uint64_t(1) << 32;
  EXPECT_FALSE(MessageView::parse(short_segment.data(), short_segment.size(), &m)) << "trailing bytes";
  EXPECT_EQ(m.kernel(), 0u) << "a failed parse leaves an empty view";
  EXPECT_FALSE(m.payload().ok());
}

TEST(CapnpViewHostile, RootOutOfBounds_ParseFails) {
  MessageView m;
  for (uint64_t root : {struct_pointer(0, 4, 1), struct_pointer(-2, 0, 0), struct_pointer(0x1FFFFFFF, 0, 0),
                        list_pointer(0, ElementSize::byte, 0), uint64_t{2}, uint64_t{3}}) {
    Record r = framed({root});
    EXPECT_FALSE(MessageView::parse(r.data(), r.size(), &m)) << std::hex << root;
  }
}

TEST(CapnpViewHostile, PayloadPointersOutOfBounds_AreNotOk) {
  const uint64_t cases[] = {
      list_pointer(0, ElementSize::byte, 9),                       // one word there, two needed
      list_pointer(0, ElementSize::eight_bytes, proto::kMaxListElements),  // huge count
      list_pointer(-7, ElementSize::byte, 1),                      // before the segment
      list_pointer(0x1FFFFFFF, ElementSize::byte, 0),              // far beyond it
      struct_pointer(0, 0xFFFF, 0xFFFF),                           // huge struct
      struct_pointer(1, 1, 0),                                     // one word there, starts past it
      2 | (uint64_t(1) << 3),                                      // far pointer
      3,                                                           // capability
  };
  for (uint64_t payload : cases) {
    Record r = envelope_words(payload, {0xFFFFFFFFFFFFFFFFull});
    MessageView m = parsed(r);
    EXPECT_FALSE(m.payload_data().ok()) << std::hex << payload;
    EXPECT_FALSE(m.payload_struct().ok()) << std::hex << payload;
    EXPECT_FALSE(m.payload().as_list<uint64_t>().ok()) << std::hex << payload;
    EXPECT_FALSE(m.payload().as_struct_list().ok()) << std::hex << payload;
  }
}

TEST(CapnpViewHostile, CompositeTagThatLies_IsNotOk) {
  // Word count 2, but the tag claims 5 one-word elements.
  Record overclaim = envelope_words(list_pointer(0, ElementSize::composite, 2),
                                    {proto::composite_tag(5, 1, 0), 1, 2});
  EXPECT_FALSE(parsed(overclaim).payload().as_struct_list().ok());
  // The tag is not struct-shaped.
  Record bad_tag = envelope_words(list_pointer(0, ElementSize::composite, 1), {1, 0});
  EXPECT_FALSE(parsed(bad_tag).payload().as_struct_list().ok());
  // The word count runs past the segment.
  Record past = envelope_words(list_pointer(0, ElementSize::composite, 4), {proto::composite_tag(1, 1, 0), 0});
  EXPECT_FALSE(parsed(past).payload().as_struct_list().ok());
}

TEST(CapnpViewHostile, BillionsOfZeroSizedElements_ExhaustTheBudget) {
  // A short record claiming huge lists whose elements take no space.
  Record voids = envelope_words(list_pointer(0, ElementSize::void_, proto::kMaxListElements));
  EXPECT_FALSE(parsed(voids).payload().as_struct_list().ok());
  Record empties = envelope_words(list_pointer(0, ElementSize::composite, 0), {proto::composite_tag(1u << 29, 0, 0)});
  EXPECT_FALSE(parsed(empties).payload().as_struct_list().ok());
}

TEST(CapnpViewHostile, SelfReferentialStruct_StopsAtTheNestingLimit) {
  // The payload is a struct whose only pointer points at the struct itself.
  Record r = envelope_words(struct_pointer(0, 0, 1), {struct_pointer(-1, 0, 1)});
  MessageView m = parsed(r);
  proto::StructView s = m.payload_struct();
  int depth = 0;
  while (s.ok() && depth < 1000) {
    s = s.get_struct(0);
    ++depth;
  }
  EXPECT_FALSE(s.ok());
  EXPECT_LE(depth, proto::kMaxNesting);
}

TEST(CapnpViewHostile, OneListPointedToManyTimes_ExhaustsTheBudget) {
  // A pointer list of 1000 entries, each pointing at one 100-word list.
  constexpr uint32_t kEntries = 1000, kListWords = 100;
  std::vector<uint64_t> rest;
  for (uint32_t i = 0; i < kEntries; ++i) {
    // Entry i sits at segment word 6 + i; the shared list starts at 6 + kEntries.
    rest.push_back(list_pointer(int32_t(kEntries - i - 1), ElementSize::eight_bytes, kListWords));
  }
  rest.resize(rest.size() + kListWords, 7);
  Record r = envelope_words(list_pointer(0, ElementSize::pointer, kEntries), rest);
  MessageView m = parsed(r);
  const proto::PointerListView entries = m.payload().as_pointer_list();
  ASSERT_TRUE(entries.ok());
  uint32_t read = 0;
  for (uint32_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].as_list<uint64_t>().ok()) break;
    ++read;
  }
  // Each read costs 100 words; the budget is about 4x the record's 1107 words.
  EXPECT_GT(read, 10u);
  EXPECT_LT(read, 60u);
  EXPECT_FALSE(m.payload().as_pointer_list().ok()) << "an exhausted budget stays exhausted";
}

TEST(CapnpViewHostile, BudgetBelongsToEachParse) {
  Record r = envelope_words(list_pointer(0, ElementSize::byte, 8), {0});
  MessageView a = parsed(r);
  MessageView b = parsed(r);
  for (int i = 0; i < 10000 && a.payload_data().ok(); ++i) {
  }
  EXPECT_FALSE(a.payload_data().ok());
  EXPECT_TRUE(b.payload_data().ok());
}

// MessageReader::root_expecting (what MessageView::parse uses) takes a root
// pointer of exactly the expected shape without a resolution: whatever the
// record and limits, it must give what root() gives, budget included.
TEST(CapnpView, RootShortcut_AgreesWithTheGeneralResolution) {
  struct Case {
    const char* what;
    std::vector<uint64_t> segment;
    proto::ReadLimits limits;
  };
  const proto::ReadLimits plenty{100, proto::kMaxNesting};
  const std::vector<Case> cases = {
      {"the expected shape", {struct_pointer(0, 4, 1), 1, 2, 3, 4, 0}, plenty},
      {"expected shape, segment one word short", {struct_pointer(0, 4, 1), 1, 2, 3, 4}, plenty},
      {"expected shape, budget too small", {struct_pointer(0, 4, 1), 1, 2, 3, 4, 0}, {4, proto::kMaxNesting}},
      {"expected shape, budget exactly enough", {struct_pointer(0, 4, 1), 1, 2, 3, 4, 0}, {5, proto::kMaxNesting}},
      {"expected shape, no nesting left", {struct_pointer(0, 4, 1), 1, 2, 3, 4, 0}, {100, 0}},
      {"a gap before the struct", {struct_pointer(1, 4, 1), 9, 1, 2, 3, 4, 0}, plenty},
      {"a smaller struct", {struct_pointer(0, 2, 1), 1, 2, 0}, plenty},
      {"a bigger struct", {struct_pointer(0, 5, 2), 1, 2, 3, 4, 5, 0, 0}, plenty},
      {"a null root", {0}, plenty},
      {"a list root", {list_pointer(0, ElementSize::byte, 8), 1}, plenty},
  };
  for (const Case& c : cases) {
    const Record r = framed(c.segment);
    proto::MessageReader general, shortcut;
    ASSERT_TRUE(proto::MessageReader::open(r.data(), r.size(), c.limits, &general)) << c.what;
    ASSERT_TRUE(proto::MessageReader::open(r.data(), r.size(), c.limits, &shortcut)) << c.what;
    const proto::StructView want = general.root();
    const proto::StructView got = shortcut.root_expecting(4, 1);
    EXPECT_EQ(got.ok(), want.ok()) << c.what;
    EXPECT_EQ(got.data(), want.data()) << c.what;
    EXPECT_EQ(got.data_bytes(), want.data_bytes()) << c.what;
    EXPECT_EQ(got.pointer_count(), want.pointer_count()) << c.what;
    EXPECT_EQ(got.get<uint64_t>(0), want.get<uint64_t>(0)) << c.what;
    EXPECT_EQ(got.has(0), want.has(0)) << c.what;
    EXPECT_EQ(shortcut.budget_left(), general.budget_left()) << c.what;
  }
}

TEST(CapnpView, LimitsMatchTheServersReader) {
  for (uint32_t bytes : {16u, 64u, 4096u, 65536u, 1u << 20}) {
    const proto::ReadLimits sdk = proto::limits_for(bytes);
    const shm::ReaderLimits server = shm::limits_for(bytes);
    EXPECT_EQ(uint64_t(sdk.traversal_words), server.traversal_words) << bytes;
    EXPECT_EQ(sdk.nesting, server.nesting) << bytes;
  }
}

TEST(CapnpView, ShmDataEnvelope_ReadByView) {
  Record r;
  r.words.resize(shm::envelope_bytes_for_data(5) / 8);
  shm::EnvelopeFields f;
  f.kernel = 3;
  f.type = 4;
  f.correlation = 99;
  f.status = 10;
  const std::byte payload[5] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
  auto written = shm::write_data_envelope({reinterpret_cast<std::byte*>(r.data()), r.size()}, f, payload);
  ASSERT_TRUE(written.ok());
  ASSERT_EQ(written.value(), r.size());
  MessageView m = parsed(r);
  EXPECT_EQ(m.kernel(), 3u);
  EXPECT_EQ(m.type(), 4u);
  EXPECT_EQ(m.correlation(), 99u);
  EXPECT_EQ(m.status(), 10u);
  ASSERT_EQ(m.payload_data().size(), 5u);
  EXPECT_EQ(m.payload_data().data()[4], 5);
}

}  // namespace
}  // namespace rk
