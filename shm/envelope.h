// Cap'n Proto envelopes built and read in place, inside ring records.
//
// A record body is one message in standard stream framing, single segment:
//   [u32 segment count - 1 = 0][u32 segment words][segment words...]
// Writers build straight into the reserved record (no heap, no copy);
// readers read it where it lies, with traversal and nesting limits derived
// from the record size, so a malformed or hostile message is an error,
// never a crash or an unbounded walk.
#pragma once
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <optional>
#include <span>

#include "rk_schema/envelope.capnp.h"
#include "shm/result.h"

namespace rk::shm {

inline constexpr size_t kFramingBytes = 8;
// Bytes an envelope puts before a Data payload: framing, root pointer, the
// Envelope struct (4 data words + the payload pointer).
inline constexpr size_t kEnvelopeHeaderBytes = kFramingBytes + 8 + 4 * 8 + 8;
// Record bytes of an envelope carrying `payload` bytes of Data.
constexpr size_t envelope_bytes_for_data(size_t payload) {
  return kEnvelopeHeaderBytes + ((payload + 7) & ~size_t{7});
}

struct EnvelopeFields {
  uint32_t kernel = 0;
  uint32_t type = 0;
  uint64_t correlation = 0;
  uint64_t hlc_physical = 0;
  uint32_t hlc_logical = 0;
  uint16_t status = 0;
  uint16_t flags = 0;
};

// Builds an envelope with a Data payload into `record`. Returns the record
// length to commit, or Errc::too_large if it does not fit.
Result<size_t> write_data_envelope(std::span<std::byte> record, const EnvelopeFields& fields,
                                   std::span<const std::byte> payload);

// Writes everything of a Data envelope except the payload bytes, which the
// caller has already put at record + kEnvelopeHeaderBytes (zero-copy send).
// Returns the record length, or Errc::too_large.
Result<size_t> write_data_envelope_around(std::span<std::byte> record, const EnvelopeFields& fields,
                                          size_t payload_bytes);

// An envelope decoded without libcapnp: the fields plus, for a Data
// payload, its bytes in place. The fast path of clients and the CPU backend.
struct EnvelopeView {
  EnvelopeFields fields;
  std::span<const std::byte> payload;  // Data payload (empty if not Data)
  enum class Payload : uint8_t { none, data, structure, list } kind = Payload::none;
};
// Decodes framing, the Envelope root and its payload pointer, checking every
// offset against the record. Errc::malformed for anything out of bounds, a
// multi-segment message or a far/capability pointer.
Result<EnvelopeView> read_envelope(std::span<const std::byte> record);

// Builds an envelope with any payload (typed structs) into a record, through
// Cap'n Proto's builder over the record's own memory.
class EnvelopeBuilder {
 public:
  // Zeroes `record` (builders need zeroed memory) and starts a message there.
  explicit EnvelopeBuilder(std::span<std::byte> record);
  rk::schema::Envelope::Builder root() { return root_; }
  // The record length to commit, or Errc::too_large if building overflowed
  // the record (see build()).
  Result<size_t> finish();
  // Runs fill(root) and finishes; any Cap'n Proto exception (the record is
  // too small) becomes Errc::too_large instead of a heap fallback.
  template <class Fill>
  static Result<size_t> build(std::span<std::byte> record, Fill&& fill);

 private:
  std::span<std::byte> record_;
  std::optional<capnp::FlatMessageBuilder> message_;
  rk::schema::Envelope::Builder root_{nullptr};
};

struct ReaderLimits {
  uint64_t traversal_words;  // total words a reader may visit
  int nesting;               // pointer depth
};
// Limits for a record of `bytes`: each word may be visited a few times,
// nothing deeper than a typical schema needs.
ReaderLimits limits_for(size_t bytes);

// Reads an envelope in place. open() checks framing and, with
// `deep_check`, walks every pointer within the limits so later field access
// cannot fail.
class EnvelopeReader {
 public:
  static Errc check(std::span<const std::byte> record, bool deep_check = true);
  explicit EnvelopeReader(std::span<const std::byte> record);  // call only after check() passed
  rk::schema::Envelope::Reader root() { return reader_.getRoot<rk::schema::Envelope>(); }
  // The Data payload, empty if the payload is not Data.
  std::span<const std::byte> data();

 private:
  capnp::FlatArrayMessageReader reader_;
};

template <class Fill>
Result<size_t> EnvelopeBuilder::build(std::span<std::byte> record, Fill&& fill) {
  try {
    EnvelopeBuilder b(record);
    fill(b.root());
    return b.finish();
  } catch (const kj::Exception&) {
    return Errc::too_large;
  }
}

}  // namespace rk::shm
