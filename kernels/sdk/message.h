// What a handler sees of the data plane: the request Envelope, read in place
// (MessageView), and the reply Envelope, built in place (Reply).
//
// The Envelope's wire layout is fixed by field order in
// schema/envelope.capnp; tests check these offsets against capnp's own.
#pragma once
#include <cstdint>

#include "kernels/sdk/capnp_builder.h"
#include "kernels/sdk/capnp_copy.h"
#include "kernels/sdk/capnp_view.h"
#include "kernels/sdk/config.h"
#include "kernels/sdk/status.h"

namespace rk {

namespace envelope_layout {
inline constexpr uint16_t kDataWords = 4;
inline constexpr uint16_t kPointers = 1;
// Byte offsets in the data section.
inline constexpr uint32_t kKernel = 0;        // u32
inline constexpr uint32_t kType = 4;          // u32
inline constexpr uint32_t kCorrelation = 8;   // u64
inline constexpr uint32_t kHlcPhysical = 16;  // u64
inline constexpr uint32_t kHlcLogical = 24;   // u32
inline constexpr uint32_t kStatus = 28;       // u16
inline constexpr uint32_t kFlags = 30;        // u16
inline constexpr uint16_t kPayload = 0;       // pointer index
// Framing, root pointer, the Envelope struct: where a payload starts in a
// reply this SDK builds (equals shm::kEnvelopeHeaderBytes).
inline constexpr uint32_t kHeaderBytes = 8 + 8 + kDataWords * 8 + kPointers * 8;
}  // namespace envelope_layout

// The request: an Envelope read where it lies in its ring record. Cheap to
// copy; views it hands out borrow this object (and its traversal budget).
class MessageView {
 public:
  MessageView() = default;

  // Checks the framing and the Envelope root of `record` (8-byte aligned,
  // `len` bytes) under limits derived from its size. Payload pointers are
  // checked when read, by payload_*(). False: not an Envelope.
  RK_HOST_DEVICE static bool parse(const void* record, uint32_t len, MessageView* out) {
    *out = MessageView();
    if (!proto::MessageReader::open(record, len, &out->message_)) return false;
    const proto::StructView root = out->message_.root_expecting(envelope_layout::kDataWords, envelope_layout::kPointers);
    if (!root.ok()) {
      *out = MessageView();
      return false;
    }
    namespace L = envelope_layout;
    out->kernel_ = root.get<uint32_t>(L::kKernel);
    out->type_ = root.get<uint32_t>(L::kType);
    out->correlation_ = root.get<uint64_t>(L::kCorrelation);
    out->hlc_physical_ = root.get<uint64_t>(L::kHlcPhysical);
    out->hlc_logical_ = root.get<uint32_t>(L::kHlcLogical);
    out->status_ = root.get<uint16_t>(L::kStatus);
    out->flags_ = root.get<uint16_t>(L::kFlags);
    const proto::PointerView payload = root.pointer(L::kPayload);
    out->payload_ = payload.location();
    out->payload_word_ = payload.word();
    out->payload_nesting_ = payload.nesting();
    out->record_ = record;
    out->record_bytes_ = len;
    return true;
  }

  RK_HOST_DEVICE uint32_t kernel() const { return kernel_; }
  RK_HOST_DEVICE uint32_t type() const { return type_; }
  RK_HOST_DEVICE uint64_t correlation() const { return correlation_; }
  RK_HOST_DEVICE uint64_t hlc_physical() const { return hlc_physical_; }
  RK_HOST_DEVICE uint32_t hlc_logical() const { return hlc_logical_; }
  RK_HOST_DEVICE uint16_t status() const { return status_; }
  RK_HOST_DEVICE uint16_t flags() const { return flags_; }
  RK_HOST_DEVICE const void* record() const { return record_; }
  RK_HOST_DEVICE uint32_t record_bytes() const { return record_bytes_; }

  // The payload slot, whatever it holds.
  RK_HOST_DEVICE proto::PointerView payload() const {
    // Not ok when parsing failed: the reader's segment then has no words.
    return proto::PointerView(message_.segment(), payload_, payload_word_, payload_nesting_);
  }
  // The payload as Data: not ok() if it is a struct or another list, or
  // breaks a bound. A null payload is empty Data, as in capnp.
  RK_HOST_DEVICE proto::DataView payload_data() const { return payload().as_data(); }
  // The payload as a struct: not ok() if it is Data or a list, or breaks a
  // bound. A null payload is the empty struct (every field reads 0).
  RK_HOST_DEVICE proto::StructView payload_struct() const { return payload().as_struct(); }

 private:
  proto::MessageReader message_;
  const void* record_ = nullptr;
  uint32_t record_bytes_ = 0;
  uint32_t kernel_ = 0, type_ = 0, hlc_logical_ = 0;
  uint64_t correlation_ = 0, hlc_physical_ = 0;
  uint16_t status_ = 0, flags_ = 0;
  const proto::Word* payload_ = nullptr;  // inside message_'s segment, or nullptr
  proto::Word payload_word_ = 0;         // *payload_, read once
  int32_t payload_nesting_ = 0;
};

// The reply: an Envelope built in a reply record of fixed capacity. Built
// from a request, it starts as that request's kernel, type and correlation
// with status ok and a null payload.
//
// On overflow the builder calls return nothing usable and finish() returns
// 0; a handler that sees an init fail calls fail(status::too_large). fail()
// turns whatever was built into an error reply with an empty payload.
class Reply {
 public:
  // `record` 8-byte aligned, `capacity` bytes; `zeroed`: see MessageBuilder.
  RK_HOST_DEVICE Reply(void* record, uint32_t capacity, bool zeroed = false)
      : message_(record, capacity, zeroed),
        envelope_(reinterpret_cast<proto::Word*>(
            message_.init_root(envelope_layout::kDataWords, envelope_layout::kPointers).data())) {}
  RK_HOST_DEVICE Reply(void* record, uint32_t capacity, const MessageView& request, bool zeroed = false)
      : Reply(record, capacity, zeroed) {
    set_kernel(request.kernel());
    set_type(request.type());
    set_correlation(request.correlation());
  }
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  RK_HOST_DEVICE void set_kernel(uint32_t v) { envelope().set<uint32_t>(envelope_layout::kKernel, v); }
  RK_HOST_DEVICE void set_type(uint32_t v) { envelope().set<uint32_t>(envelope_layout::kType, v); }
  RK_HOST_DEVICE void set_correlation(uint64_t v) { envelope().set<uint64_t>(envelope_layout::kCorrelation, v); }
  RK_HOST_DEVICE void set_hlc(uint64_t physical, uint32_t logical) {
    envelope().set<uint64_t>(envelope_layout::kHlcPhysical, physical);
    envelope().set<uint32_t>(envelope_layout::kHlcLogical, logical);
  }
  RK_HOST_DEVICE void set_status(uint16_t v) { envelope().set<uint16_t>(envelope_layout::kStatus, v); }
  RK_HOST_DEVICE void set_flags(uint16_t v) { envelope().set<uint16_t>(envelope_layout::kFlags, v); }

  RK_HOST_DEVICE uint32_t kernel() const { return envelope().get<uint32_t>(envelope_layout::kKernel); }
  RK_HOST_DEVICE uint32_t type() const { return envelope().get<uint32_t>(envelope_layout::kType); }
  RK_HOST_DEVICE uint64_t correlation() const { return envelope().get<uint64_t>(envelope_layout::kCorrelation); }
  RK_HOST_DEVICE uint16_t status() const { return envelope().get<uint16_t>(envelope_layout::kStatus); }

  // The payload slot, for any shape of payload.
  RK_HOST_DEVICE proto::PointerBuilder payload() { return envelope().pointer(envelope_layout::kPayload); }
  // A Data payload of `size` bytes to fill; nullptr if it does not fit.
  RK_HOST_DEVICE uint8_t* init_data(uint32_t size) { return payload().init_data(size); }
  RK_HOST_DEVICE bool set_data(const void* bytes, uint32_t size) { return payload().set_data(bytes, size); }
  // A struct payload; not ok() if it does not fit.
  RK_HOST_DEVICE proto::StructBuilder init_struct(uint16_t data_words, uint16_t pointers) {
    return payload().init_struct(data_words, pointers);
  }
  // Copies the request's payload, whatever its shape. Returns status::ok,
  // status::malformed (the request's payload breaks a bound) or
  // status::too_large.
  RK_HOST_DEVICE uint16_t copy_payload(const MessageView& from) {
    switch (proto::copy_pointer(from.payload(), payload())) {
      case proto::CopyResult::ok: return status::ok;
      case proto::CopyResult::malformed: return status::malformed;
      case proto::CopyResult::overflow: break;
    }
    return status::too_large;
  }

  // Makes this an error reply: `code`, empty payload, everything built so
  // far dropped and zeroed. Addressing fields (kernel, type, correlation)
  // stay. With several lanes building one reply, call it before the lanes
  // write their own parts, or after ctx.sync().
  RK_HOST_DEVICE void fail(uint16_t code) {
    if (envelope_ == nullptr) return;
    message_.rewind(kHeaderWords);
    payload().set_null();
    set_status(code);
  }

  // Completes the record. Returns its length in bytes, or 0 if building
  // failed (error() says why) or the capacity cannot hold an Envelope.
  RK_HOST_DEVICE uint32_t finish() { return message_.finish(); }
  RK_HOST_DEVICE proto::BuildError error() const { return message_.error(); }
  RK_HOST_DEVICE uint32_t capacity_bytes() const { return message_.capacity_bytes(); }

 private:
  // Framing, root pointer, the Envelope: what fail() keeps.
  static constexpr uint32_t kHeaderWords = envelope_layout::kHeaderBytes / 8;

  // The Envelope's builder, made when needed rather than kept: one kept in
  // here would point into this object, and nvcc would then keep the whole
  // Reply in local memory. (const: the getters only read through it.)
  RK_HOST_DEVICE proto::StructBuilder envelope() const {
    const bool ok = envelope_ != nullptr;
    return proto::StructBuilder(const_cast<proto::MessageBuilder*>(&message_), envelope_,
                                ok ? envelope_layout::kDataWords : 0, ok ? envelope_layout::kPointers : 0);
  }

  proto::MessageBuilder message_;
  proto::Word* envelope_;  // its data section; nullptr if the capacity cannot hold one
};

}  // namespace rk
