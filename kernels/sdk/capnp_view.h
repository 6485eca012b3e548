// An allocation-free, bounds-checked reader for one Cap'n Proto message in
// standard stream framing, single segment, unpacked, held in a byte span
// (a ring record). Host and device run the same checks: every pointer is
// resolved against the segment's bounds, every resolution is charged to a
// traversal budget and limited in depth, so a hostile record costs a bounded
// amount of work and yields "not ok", never an out-of-bounds read.
//
// Semantics follow Cap'n Proto's reader: a null pointer reads as the default
// (empty struct, empty list), a field beyond a struct's data section reads as
// 0 (the sender has an older schema), and a list may be read as a list of a
// narrower type or as a struct list (the schema evolved). What capnp rejects
// (far pointers, capabilities, bit lists read as anything but bits) is "not
// ok" here. Fields with non-zero schema defaults are not XOR-decoded: none of
// our schemas have one.
//
// Views borrow the MessageReader (or MessageView) they came from, whose
// budget they spend: they must not outlive it. A view that is not ok() reads
// as empty, so a handler may check once after several reads.
#pragma once
#include <cstdint>

#include "kernels/sdk/config.h"
#include "kernels/sdk/pointer.h"

namespace rk::proto {

struct ReadLimits {
  int64_t traversal_words;  // words all resolutions together may cover
  int32_t nesting;          // pointer depth below the root pointer
};

inline constexpr int32_t kMaxNesting = 16;

// Same policy as shm::limits_for (a test checks they agree): each word may be
// visited about four times, which covers readers that look at a list twice
// but stops "one list pointed to a million times"; 16 levels is deeper than
// any schema we have.
RK_HOST_DEVICE constexpr ReadLimits limits_for(uint32_t bytes) {
  return ReadLimits{(int64_t(bytes / 8) + 1) * 4, kMaxNesting};
}

// The message's one segment as every view carries it: by value, so that on
// the device a view's fields stay in registers (a view holding a pointer to
// shared reader state would pin that state, and every view of it, to local
// memory). Only the traversal budget is shared: every view of a message
// spends the one its reader (MessageReader, MessageView) holds, so a hostile
// message costs bounded work however a handler walks it.
struct SegmentRef {
  const Word* begin = nullptr;
  uint32_t words = 0;
  int64_t* budget = nullptr;  // the reader's; -1 once exhausted

  RK_HOST_DEVICE bool charge(uint64_t w) const {
    // Selects, not branches: every resolution runs this, and on the device
    // a taken branch costs more than the whole test.
    const int64_t left = *budget;
    const bool ok = left >= 0 && w <= uint64_t(left);
    *budget = ok ? left - int64_t(w) : -1;  // -1 is sticky: a message that blew its budget stays refused
    return ok;
  }
  // This segment if `ok`, else what a view that is not ok carries: no words
  // and the same budget (see "resolution into views" below for why).
  RK_HOST_DEVICE SegmentRef refused_unless(bool ok) const {
    return SegmentRef{ok ? begin : nullptr, ok ? words : 0, budget};
  }
};

namespace detail {

// What one pointer word designates, after all bounds checks.
struct Target {
  enum Kind : uint8_t { invalid, null, struct_, list } kind = invalid;
  const Word* at = nullptr;   // struct: data section; list: first element (past the tag)
  ElementSize size = ElementSize::void_;  // lists
  uint32_t count = 0;         // lists: elements
  uint16_t data_words = 0;    // structs and composite-list elements
  uint16_t pointers = 0;
};

// A composite (struct) list at `at`, `room` words before the segment's end:
// its tag checked against the list pointer `w`. Rare; kept apart from the
// common shapes' straight-line code.
RK_HOST_DEVICE inline Target resolve_composite(const SegmentRef& seg, Word w, const Word* at, uint64_t room) {
  Target t;
  const uint64_t words = list_count(w);  // excluding the tag
  if (words + 1 > room) return t;
  const Word tag = *at;
  if (pointer_kind(tag) != PointerKind::struct_) return t;
  const uint64_t per_element = uint64_t(struct_data_words(tag)) + struct_pointer_count(tag);
  const uint32_t elements = tag_element_count(tag);
  if (uint64_t(elements) * per_element > words) return t;
  // Zero-sized elements cost a word each, or a short list could claim
  // billions of them and a reader would loop that long.
  if (!seg.charge(words + 1 + (per_element == 0 ? elements : 0))) return t;
  t.kind = Target::list;
  t.size = ElementSize::composite;
  t.at = at + 1;
  t.count = elements;
  t.data_words = struct_data_words(tag);
  t.pointers = struct_pointer_count(tag);
  return t;
}

// Resolves the pointer word `w` found at `loc` (inside `seg`; a null `loc`,
// "past the end of a pointer section", comes with w = 0 and reads as null).
// `nesting` is the depth still allowed; resolution needs at least one level.
// Structs and plain lists (the shapes every message has) are checked with
// selects, not a branch per test: each taken branch costs a GPU warp more
// than the test it guards.
RK_HOST_DEVICE inline Target resolve(const SegmentRef& seg, const Word* loc, Word w, int32_t nesting) {
  Target t;
  if (w == 0) {
    t.kind = Target::null;
    return t;
  }
  const int64_t start = int64_t(loc - seg.begin) + 1 + pointer_offset(w);
  const bool placed = nesting > 0 && start >= 0 && start <= int64_t(seg.words);
  const uint64_t room = placed ? uint64_t(seg.words) - uint64_t(start) : 0;
  const Word* at = seg.begin + (placed ? start : 0);
  const PointerKind kind = pointer_kind(w);
  const ElementSize size = list_element_size(w);
  if (kind == PointerKind::list && size == ElementSize::composite) {
    return placed ? resolve_composite(seg, w, at, room) : t;
  }
  const bool is_struct = kind == PointerKind::struct_, is_list = kind == PointerKind::list;  // else far or capability
  const uint32_t count = list_count(w);
  const uint64_t words =
      is_struct ? uint64_t(struct_data_words(w)) + struct_pointer_count(w) : list_words(size, count);
  // Empty objects and void elements cost a word each, so that a message of
  // pointers to nothing still runs out of budget.
  const uint64_t cost = words + (words == 0) + (is_list && size == ElementSize::void_ ? count : 0);
  const bool fits = placed & (is_struct | is_list) & (words <= room);  // & not &&: no branch per test
  if (!fits || !seg.charge(cost)) return t;
  t.kind = is_struct ? Target::struct_ : Target::list;
  t.at = at;
  t.size = is_list ? size : ElementSize::void_;
  t.count = is_list ? count : 0;
  t.data_words = is_struct ? struct_data_words(w) : 0;
  t.pointers = is_struct ? struct_pointer_count(w) : 0;
  return t;
}

}  // namespace detail

// Raw bytes: a Data (List(UInt8)) field.
class DataView {
 public:
  DataView() = default;
  RK_HOST_DEVICE DataView(const uint8_t* data, uint32_t size) : data_(data), size_(size), ok_(true) {}
  RK_HOST_DEVICE bool ok() const { return ok_; }
  RK_HOST_DEVICE const uint8_t* data() const { return data_; }  // word-aligned
  RK_HOST_DEVICE uint32_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  uint32_t size_ = 0;
  bool ok_ = false;
};

// A list of primitives (integers, floats). Elements sit `stride` bytes apart:
// sizeof(T) normally, more when the sender wrote a wider list or a struct list.
template <class T>
class ListView {
 public:
  ListView() = default;
  RK_HOST_DEVICE ListView(const uint8_t* base, uint32_t count, uint32_t stride)
      : base_(base), count_(count), stride_(stride), ok_(true) {}
  RK_HOST_DEVICE bool ok() const { return ok_; }
  RK_HOST_DEVICE uint32_t size() const { return count_; }
  // Element i, or 0 when i is out of range.
  RK_HOST_DEVICE T get(uint32_t i) const {
    return i < count_ ? load<T>(base_ + uint64_t(i) * stride_) : T{};
  }
  RK_HOST_DEVICE T operator[](uint32_t i) const { return get(i); }
  // True when elements are packed, so data() can be read as T[size()].
  RK_HOST_DEVICE bool contiguous() const { return stride_ == sizeof(T); }
  RK_HOST_DEVICE const uint8_t* data() const { return base_; }

 private:
  const uint8_t* base_ = nullptr;
  uint32_t count_ = 0;
  uint32_t stride_ = 0;
  bool ok_ = false;
};

class StructView;
class StructListView;
class PointerListView;

// One pointer slot: resolved only when asked for what it points to. The
// pointer word itself is read when the view is made and kept: a request
// does not change while it is handled, but once a handler has stored into
// its reply the compiler must assume the stores may have changed it, and
// on the device every second read of it is another memory round trip.
class PointerView {
 public:
  PointerView() = default;  // not ok
  RK_HOST_DEVICE PointerView(const SegmentRef& seg, const Word* loc, int32_t nesting)
      : PointerView(seg, loc, loc != nullptr ? *loc : 0, nesting) {}
  // `word`: what `loc` holds, read earlier.
  RK_HOST_DEVICE PointerView(const SegmentRef& seg, const Word* loc, Word word, int32_t nesting)
      : seg_(seg), loc_(loc), word_(word), nesting_(nesting) {}

  RK_HOST_DEVICE bool ok() const { return seg_.begin != nullptr; }
  RK_HOST_DEVICE bool is_null() const { return word_ == 0; }
  RK_HOST_DEVICE bool is_struct() const { return !is_null() && pointer_kind(word_) == PointerKind::struct_; }
  RK_HOST_DEVICE bool is_list() const { return !is_null() && pointer_kind(word_) == PointerKind::list; }
  // The encoded element size of a list pointer (meaningful when is_list()).
  RK_HOST_DEVICE ElementSize element_size() const { return is_null() ? ElementSize::void_ : list_element_size(word_); }

  RK_HOST_DEVICE StructView as_struct() const;
  RK_HOST_DEVICE DataView as_data() const;
  template <class T>
  RK_HOST_DEVICE ListView<T> as_list() const;
  RK_HOST_DEVICE StructListView as_struct_list() const;
  RK_HOST_DEVICE PointerListView as_pointer_list() const;

  // Low level, for copying: the checked target. Charges the budget.
  RK_HOST_DEVICE detail::Target target() const {
    return ok() ? detail::resolve(seg_, loc_, word_, nesting_) : detail::Target{};
  }
  RK_HOST_DEVICE const SegmentRef& segment() const { return seg_; }
  RK_HOST_DEVICE const Word* location() const { return loc_; }
  RK_HOST_DEVICE Word word() const { return word_; }
  RK_HOST_DEVICE int32_t nesting() const { return nesting_; }

 private:
  SegmentRef seg_;
  const Word* loc_ = nullptr;  // nullptr: past a pointer section, reads as null
  Word word_ = 0;              // *loc_, or 0 (null) when loc_ is nullptr
  int32_t nesting_ = 0;
};

// A struct: data fields by byte offset, pointers by index.
class StructView {
 public:
  StructView() = default;  // not ok
  RK_HOST_DEVICE StructView(const SegmentRef& seg, const uint8_t* data, uint32_t data_bytes, const Word* pointers,
                            uint16_t pointer_count, int32_t nesting)
      : seg_(seg), data_(data), pointers_(pointers), data_bytes_(data_bytes), pointer_count_(pointer_count),
        nesting_(nesting) {}

  RK_HOST_DEVICE bool ok() const { return seg_.begin != nullptr; }
  RK_HOST_DEVICE uint32_t data_bytes() const { return data_bytes_; }
  RK_HOST_DEVICE uint16_t pointer_count() const { return pointer_count_; }
  RK_HOST_DEVICE const uint8_t* data() const { return data_; }

  // The field of type T at `byte_offset` (a multiple of sizeof(T)); 0 when
  // it lies beyond the data section or is misaligned.
  template <class T>
  RK_HOST_DEVICE T get(uint32_t byte_offset) const {
    if (byte_offset % sizeof(T) != 0 || uint64_t(byte_offset) + sizeof(T) > data_bytes_) return T{};
    return load<T>(data_ + byte_offset);
  }
  RK_HOST_DEVICE bool get_bool(uint32_t bit_offset) const {
    const uint32_t byte = bit_offset / 8;
    return byte < data_bytes_ && ((data_[byte] >> (bit_offset % 8)) & 1u);
  }

  // Pointer `i`; past the pointer section it reads as null. (A view that is
  // not ok has no pointers, and passes on its refused segment.)
  RK_HOST_DEVICE PointerView pointer(uint16_t i) const {
    return PointerView(seg_, i < pointer_count_ ? pointers_ + i : nullptr, nesting_);
  }
  RK_HOST_DEVICE bool has(uint16_t i) const { return !pointer(i).is_null(); }
  RK_HOST_DEVICE StructView get_struct(uint16_t i) const;
  RK_HOST_DEVICE DataView get_data(uint16_t i) const { return pointer(i).as_data(); }
  template <class T>
  RK_HOST_DEVICE ListView<T> get_list(uint16_t i) const {
    return pointer(i).as_list<T>();
  }
  RK_HOST_DEVICE StructListView get_struct_list(uint16_t i) const;
  RK_HOST_DEVICE PointerListView get_pointer_list(uint16_t i) const;

 private:
  SegmentRef seg_;
  const uint8_t* data_ = nullptr;
  const Word* pointers_ = nullptr;
  uint32_t data_bytes_ = 0;
  uint16_t pointer_count_ = 0;
  int32_t nesting_ = 0;  // depth left for this struct's pointers
};

// A list of structs.
class StructListView {
 public:
  StructListView() = default;
  RK_HOST_DEVICE StructListView(const SegmentRef& seg, const uint8_t* base, uint32_t count, uint32_t stride,
                                uint32_t data_bytes, uint16_t pointers, int32_t nesting)
      : seg_(seg), base_(base), count_(count), stride_(stride), data_bytes_(data_bytes), pointers_(pointers),
        nesting_(nesting) {}
  RK_HOST_DEVICE bool ok() const { return seg_.begin != nullptr; }
  RK_HOST_DEVICE uint32_t size() const { return count_; }
  // Element i; out of range it is not ok.
  RK_HOST_DEVICE StructView get(uint32_t i) const {
    const bool in = i < count_;
    const uint8_t* data = in ? base_ + uint64_t(i) * stride_ : nullptr;
    const Word* ptrs = in && pointers_ ? reinterpret_cast<const Word*>(data + data_bytes_) : nullptr;
    return StructView(seg_.refused_unless(in), data, in ? data_bytes_ : 0, ptrs, in ? pointers_ : 0, in ? nesting_ : 0);
  }
  RK_HOST_DEVICE StructView operator[](uint32_t i) const { return get(i); }

 private:
  SegmentRef seg_;
  const uint8_t* base_ = nullptr;
  uint32_t count_ = 0, stride_ = 0, data_bytes_ = 0;
  uint16_t pointers_ = 0;
  int32_t nesting_ = 0;
};

// A list of pointers (List(Data), List(List(...)), ...).
class PointerListView {
 public:
  PointerListView() = default;
  RK_HOST_DEVICE PointerListView(const SegmentRef& seg, const Word* first, uint32_t count, uint32_t stride_words,
                                 int32_t nesting)
      : seg_(seg), first_(first), count_(count), stride_(stride_words), nesting_(nesting) {}
  RK_HOST_DEVICE bool ok() const { return seg_.begin != nullptr; }
  RK_HOST_DEVICE uint32_t size() const { return count_; }
  // Element i; out of range it is not ok.
  RK_HOST_DEVICE PointerView get(uint32_t i) const {
    const bool in = i < count_;
    return PointerView(seg_.refused_unless(in), in ? first_ + uint64_t(i) * stride_ : nullptr, in ? nesting_ : 0);
  }
  RK_HOST_DEVICE PointerView operator[](uint32_t i) const { return get(i); }

 private:
  SegmentRef seg_;
  const Word* first_ = nullptr;
  uint32_t count_ = 0, stride_ = 0;
  int32_t nesting_ = 0;
};

// ---- resolution into views -------------------------------------------------
//
// Each view below is constructed once, its fields chosen, rather than
// returned early from several places. On the device, two returns of a view
// merge the budget pointer it carries, and nvcc then gives up keeping the
// reader in registers: every field access becomes a local-memory round trip.
// A view that is not ok has no words and zero sizes, so it reads as empty.

namespace detail {
// The struct `t` designates, found by a pointer `nesting` levels from the
// limit (null: the empty struct).
RK_HOST_DEVICE inline StructView struct_view(const SegmentRef& seg, const Target& t, int32_t nesting) {
  const bool found = t.kind == Target::struct_;
  const bool ok = found || t.kind == Target::null;
  return StructView(seg.refused_unless(ok), found ? reinterpret_cast<const uint8_t*>(t.at) : nullptr,
                    found ? uint32_t(t.data_words) * 8 : 0, found ? t.at + t.data_words : nullptr,
                    found ? t.pointers : 0, ok ? nesting - 1 : 0);
}
}  // namespace detail

RK_HOST_DEVICE inline StructView PointerView::as_struct() const { return detail::struct_view(seg_, target(), nesting_); }

RK_HOST_DEVICE inline DataView PointerView::as_data() const {
  const detail::Target t = target();
  if (t.kind == detail::Target::null) return DataView(nullptr, 0);
  if (t.kind != detail::Target::list || t.size != ElementSize::byte) return DataView();
  return DataView(reinterpret_cast<const uint8_t*>(t.at), t.count);
}

template <class T>
RK_HOST_DEVICE inline ListView<T> PointerView::as_list() const {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "primitive elements only");
  static_assert(!is_bool_v<T>, "bit lists (List(Bool)) are not supported");
  const detail::Target t = target();
  if (t.kind == detail::Target::null) return ListView<T>(nullptr, 0, sizeof(T));
  if (t.kind != detail::Target::list) return ListView<T>();
  const auto base = reinterpret_cast<const uint8_t*>(t.at);
  if (t.size == ElementSize::composite) {
    // A struct list standing in for a primitive list: its first data field.
    if (uint32_t(t.data_words) * 8 < sizeof(T)) return ListView<T>();
    return ListView<T>(base, t.count, (uint32_t(t.data_words) + t.pointers) * 8);
  }
  if (t.size == ElementSize::bit || element_data_bits(t.size) < sizeof(T) * 8) return ListView<T>();
  return ListView<T>(base, t.count, element_data_bits(t.size) / 8);
}

RK_HOST_DEVICE inline StructListView PointerView::as_struct_list() const {
  const detail::Target t = target();
  const bool found = t.kind == detail::Target::list && t.size != ElementSize::bit;
  const bool ok = found || t.kind == detail::Target::null;  // null: the empty list
  // Elements as structs; a primitive or pointer list reads as structs of
  // one field.
  uint32_t stride = 0, data_bytes = 0;
  uint16_t pointers = 0;
  if (!found) {
  } else if (t.size == ElementSize::composite) {
    stride = (uint32_t(t.data_words) + t.pointers) * 8;
    data_bytes = uint32_t(t.data_words) * 8;
    pointers = t.pointers;
  } else if (t.size == ElementSize::pointer) {
    stride = 8;
    pointers = 1;
  } else {
    stride = data_bytes = element_data_bits(t.size) / 8;
  }
  return StructListView(seg_.refused_unless(ok), found ? reinterpret_cast<const uint8_t*>(t.at) : nullptr,
                        found ? t.count : 0, stride, data_bytes, pointers, ok ? nesting_ - 1 : 0);
}

RK_HOST_DEVICE inline PointerListView PointerView::as_pointer_list() const {
  const detail::Target t = target();
  const bool is_list = t.kind == detail::Target::list;
  const bool pointers = is_list && t.size == ElementSize::pointer;
  // A struct list standing in for a pointer list: each element's first pointer.
  const bool structs = is_list && t.size == ElementSize::composite && t.pointers != 0;
  const bool found = pointers || structs;
  const bool ok = found || t.kind == detail::Target::null;  // null: the empty list
  return PointerListView(seg_.refused_unless(ok), found ? t.at + t.data_words : nullptr, found ? t.count : 0,
                         structs ? uint32_t(t.data_words) + t.pointers : ok ? 1 : 0, ok ? nesting_ - 1 : 0);
}

RK_HOST_DEVICE inline StructView StructView::get_struct(uint16_t i) const { return pointer(i).as_struct(); }
RK_HOST_DEVICE inline StructListView StructView::get_struct_list(uint16_t i) const {
  return pointer(i).as_struct_list();
}
RK_HOST_DEVICE inline PointerListView StructView::get_pointer_list(uint16_t i) const {
  return pointer(i).as_pointer_list();
}

// ---- the message -------------------------------------------------------------

// One framed single-segment message: [u32 0][u32 segment words][words...].
class MessageReader {
 public:
  MessageReader() = default;

  // Checks the framing of `bytes` (8-byte aligned, exactly one segment that
  // fills `len`) and starts a reader with the given limits. On failure *out
  // is left not ok and false is returned.
  RK_HOST_DEVICE static bool open(const void* bytes, uint32_t len, ReadLimits limits, MessageReader* out) {
    *out = MessageReader();
    if (bytes == nullptr || reinterpret_cast<uintptr_t>(bytes) % 8 != 0 || len < 16 || len % 8 != 0) return false;
    const Word* words = static_cast<const Word*>(bytes);
    const Word framing = words[0];
    const uint32_t segments_minus_one = uint32_t(framing);
    const uint32_t segment_words = uint32_t(framing >> 32);
    if (segments_minus_one != 0 || 8 + uint64_t(segment_words) * 8 != len) return false;
    out->begin_ = words + 1;
    out->words_ = segment_words;
    out->budget_ = limits.traversal_words;
    out->nesting_ = limits.nesting;
    return true;
  }
  RK_HOST_DEVICE static bool open(const void* bytes, uint32_t len, MessageReader* out) {
    return open(bytes, len, limits_for(len), out);
  }

  RK_HOST_DEVICE bool ok() const { return begin_ != nullptr; }
  // Not ok when the reader is not (its segment then has no words).
  RK_HOST_DEVICE PointerView root_pointer() const { return PointerView(segment(), begin_, nesting_); }
  RK_HOST_DEVICE StructView root() const { return root_pointer().as_struct(); }
  // root(), with a shortcut for the layout every builder writes: a root
  // pointer of exactly this shape (offset 0: the struct right after it).
  // One comparison instead of a resolution; the same checks, budget and
  // result, and any other root pointer goes the general way.
  RK_HOST_DEVICE StructView root_expecting(uint16_t data_words, uint16_t pointers) const {
    const uint32_t words = uint32_t(data_words) + pointers;
    const Word w = begin_ != nullptr ? *begin_ : 0;
    detail::Target t;
    if (nesting_ > 0 && words != 0 && words < words_ && w == struct_pointer(0, data_words, pointers)) {
      if (segment().charge(words)) {
        t.kind = detail::Target::struct_;
        t.at = begin_ + 1;
        t.data_words = data_words;
        t.pointers = pointers;
      }
    } else if (begin_ != nullptr) {
      t = detail::resolve(segment(), begin_, w, nesting_);
    }
    return detail::struct_view(segment(), t, nesting_);
  }
  // The segment as views carry it, spending this reader's budget.
  RK_HOST_DEVICE SegmentRef segment() const { return SegmentRef{begin_, words_, &budget_}; }
  // Traversal words still allowed (-1 once exhausted).
  RK_HOST_DEVICE int64_t budget_left() const { return budget_; }

 private:
  mutable int64_t budget_ = 0;  // spent by const views
  const Word* begin_ = nullptr;
  uint32_t words_ = 0;
  int32_t nesting_ = 0;
};

}  // namespace rk::proto
