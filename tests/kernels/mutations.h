// Seed records and mutations for the fuzz tests (host and device).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "records.h"
#include "rk_schema/kernels.capnp.h"

namespace rk::test {

// Valid requests of every shape the built-ins see, and some they do not.
inline std::vector<Record> seed_records() {
  std::vector<Record> s;
  for (uint32_t n : {0u, 3u, 8u, 100u}) {
    s.push_back(test::capnp_envelope([&](schema::Envelope::Builder e) {
      e.setCorrelation(n);
      auto data = e.getPayload().initAs<capnp::Data>(n);
      if (n) data[n - 1] = 1;
    }));
  }
  for (uint32_t n : {0u, 1u, 5u, 40u}) {
    s.push_back(test::capnp_envelope([&](schema::Envelope::Builder e) {
      auto req = e.getPayload().initAs<schema::SaxpyRequest>();
      req.setA(1.5f);
      for (auto list : {req.initX(n), req.initY(n)})
        for (uint32_t i = 0; i < n; ++i) list.set(i, float(i));
    }));
    s.push_back(test::capnp_envelope([&](schema::Envelope::Builder e) {
      auto values = e.getPayload().initAs<schema::ReduceSumRequest>().initValues(n);
      for (uint32_t i = 0; i < n; ++i) values.set(i, float(i));
    }));
  }
  s.push_back(test::capnp_envelope([](schema::Envelope::Builder e) {
    auto outer = e.getPayload().initAs<capnp::List<capnp::List<schema::SaxpyRequest>>>(3);
    for (uint32_t i = 0; i < 3; ++i) {
      auto inner = outer.init(i, i + 1);
      for (uint32_t j = 0; j <= i; ++j) inner[j].initX(2).set(1, 3.f);
    }
  }));
  s.push_back(test::capnp_envelope([](schema::Envelope::Builder e) {
    auto blobs = e.getPayload().initAs<capnp::List<capnp::Data>>(4);
    for (uint32_t i = 0; i < 4; ++i) blobs.init(i, i * 5);
  }));
  s.push_back(test::capnp_envelope([](schema::Envelope::Builder e) { e.setType(1); }));
  int64_t d = 5;
  s.push_back(test::capnp_envelope([&](schema::Envelope::Builder e) {
    e.getPayload().setAs<capnp::Data>(kj::arrayPtr(reinterpret_cast<const kj::byte*>(&d), 8));
  }));
  return s;
}

// A word that looks enough like a pointer to get past the first checks.
inline uint64_t pointer_like(std::mt19937_64& rng) {
  const uint64_t r = rng();
  const int32_t offset = (r & 1) ? int32_t(r >> 8) % 24 - 8 : int32_t(r >> 8);
  const uint64_t kind = (r >> 40) & 3;
  uint64_t high;
  switch ((r >> 44) & 3) {
    case 0: high = (r >> 48) & 0x70007; break;              // small sizes / counts
    case 1: high = uint64_t(rng()) >> 32; break;            // anything
    case 2: high = ((r >> 50) & 7) | (uint64_t((r >> 53) & 63) << 3); break;  // list: small count
    default: high = ((r >> 50) & 7) | 0xFFFFFFF8ull; break;  // list: huge count
  }
  return (uint64_t(uint32_t(offset) << 2) | kind) | (high << 32);
}

// One to four random edits of `r`: flipped bits, pointer-like words,
// truncation, appended garbage, and now and then broken framing.
inline void mutate(Record& r, std::mt19937_64& rng) {
  const int rounds = 1 + int(rng() % 4);
  for (int k = 0; k < rounds; ++k) {
    const size_t seg_words = r.words.size() - 1;
    const size_t at = 1 + rng() % seg_words;
    switch (rng() % 8) {
      case 0: r.words[at] ^= uint64_t(1) << (rng() % 64); break;
      case 1:
      case 2:
      case 3: r.words[at] = pointer_like(rng); break;
      case 4: r.words[at] = (r.words[at] & 0xFFFFFFFF00000000ull) | uint32_t(rng()); break;
      case 5:  // truncate, fixing the framing
        if (seg_words > 1) {
          r.words.resize(r.words.size() - 1 - rng() % (seg_words - 1));
          r.words[0] = uint64_t(r.words.size() - 1) << 32;
        }
        break;
      case 6:  // append garbage, fixing the framing
        for (int n = int(rng() % 4); n >= 0; --n) r.words.push_back(rng() % 3 ? pointer_like(rng) : rng());
        r.words[0] = uint64_t(r.words.size() - 1) << 32;
        break;
      default:
        if (rng() % 8 == 0) r.words[0] ^= uint64_t(1) << (rng() % 64);  // break the framing now and then
        break;
    }
  }
}

}  // namespace rk::test
