// An allocation-free builder that writes one framed, single-segment Cap'n
// Proto message into a caller's buffer of fixed capacity (a ring record).
// Objects are bump-allocated in the order they are initialised, exactly as
// capnp's own builder lays them out, so the result is readable by any Cap'n
// Proto implementation where it lies.
//
// Nothing is ever written past the capacity: an allocation that does not fit
// sets an error, returns a builder that is not ok (whose writes do nothing),
// and finish() then reports 0. Misuse (a field offset beyond the data
// section, a pointer index beyond the pointer section) is a separate error.
//
// The buffer need not be zeroed: each allocation is zeroed as it is made.
// A caller that guarantees an all-zero buffer (a ring kept zeroed, or device
// lanes that zeroed the record together before the handler ran) passes
// `zeroed = true` and the builder only writes what it sets.
//
// Every lane of a block may run the same builder calls over one buffer: the
// layout depends only on the calls, so each lane computes the same offsets
// and the last store to any word is the value every lane agrees on. Lanes
// then fill their own list elements, after a barrier (Context::sync) so that
// no lane's zeroing lands on another's elements.
//
// Builders are small values that point at their MessageBuilder. A builder
// that is not ok still points at it (its location is null, its sizes zero),
// and each builder is constructed once per call, fields chosen, rather than
// returned from several places: on the device, merging that pointer with
// null or with itself from two returns makes nvcc keep the MessageBuilder,
// and everything built from it, in local memory instead of registers.
#pragma once
#include <cstdint>

#include "kernels/sdk/config.h"
#include "kernels/sdk/pointer.h"

namespace rk::proto {

enum class BuildError : uint8_t {
  none = 0,
  overflow,  // the message outgrew the buffer
  misuse,    // a field or pointer outside the declared struct layout
};

class MessageBuilder;
class StructBuilder;
class StructListBuilder;
class PointerListBuilder;

// A list of primitives being built.
template <class T>
class ListBuilder {
 public:
  ListBuilder() = default;  // not ok
  RK_HOST_DEVICE ListBuilder(uint8_t* base, uint32_t count) : base_(base), count_(count), ok_(true) {}
  RK_HOST_DEVICE bool ok() const { return ok_; }
  RK_HOST_DEVICE uint32_t size() const { return count_; }
  // Out-of-range indices are ignored (read as 0).
  RK_HOST_DEVICE void set(uint32_t i, T v) {
    if (i < count_) store<T>(base_ + uint64_t(i) * sizeof(T), v);
  }
  RK_HOST_DEVICE T get(uint32_t i) const { return i < count_ ? load<T>(base_ + uint64_t(i) * sizeof(T)) : T{}; }
  // The elements, packed and word-aligned: size() * sizeof(T) bytes.
  RK_HOST_DEVICE uint8_t* data() const { return base_; }

 private:
  uint8_t* base_ = nullptr;
  uint32_t count_ = 0;
  bool ok_ = false;
};

// One pointer slot to fill. Initialising it again abandons what it pointed
// to (the words stay allocated, unreachable).
class PointerBuilder {
 public:
  PointerBuilder() = default;  // not ok
  RK_HOST_DEVICE PointerBuilder(MessageBuilder* message, Word* loc) : message_(message), loc_(loc) {}
  RK_HOST_DEVICE bool ok() const { return loc_ != nullptr; }
  RK_HOST_DEVICE MessageBuilder* message() const { return message_; }
  RK_HOST_DEVICE Word* location() const { return loc_; }
  RK_HOST_DEVICE void set_null() {
    if (loc_) *loc_ = 0;
  }

  RK_HOST_DEVICE StructBuilder init_struct(uint16_t data_words, uint16_t pointers);
  // `size` bytes of Data, zeroed; nullptr if they do not fit.
  RK_HOST_DEVICE uint8_t* init_data(uint32_t size);
  RK_HOST_DEVICE bool set_data(const void* bytes, uint32_t size);
  template <class T>
  RK_HOST_DEVICE ListBuilder<T> init_list(uint32_t count);
  RK_HOST_DEVICE StructListBuilder init_struct_list(uint32_t count, uint16_t data_words, uint16_t pointers);
  RK_HOST_DEVICE PointerListBuilder init_pointer_list(uint32_t count);
  // Low level, for copying: a non-composite, non-pointer list of `count`
  // elements of `size`; returns its zeroed words or nullptr.
  RK_HOST_DEVICE Word* init_raw_list(ElementSize size, uint32_t count);

 private:
  // Allocates `words` and points this slot at them with `shape` (a pointer
  // word with offset 0). nullptr if the slot is not ok or they do not fit.
  RK_HOST_DEVICE Word* allocate_and_point(uint64_t words, Word shape);

  MessageBuilder* message_ = nullptr;
  Word* loc_ = nullptr;
};

// A struct being built: data fields by byte offset, pointers by index.
class StructBuilder {
 public:
  StructBuilder() = default;  // not ok
  RK_HOST_DEVICE StructBuilder(MessageBuilder* message, Word* data, uint16_t data_words, uint16_t pointers)
      : message_(message), data_(data), data_words_(data_words), pointers_(pointers) {}
  RK_HOST_DEVICE bool ok() const { return data_ != nullptr; }
  RK_HOST_DEVICE uint16_t data_words() const { return data_words_; }
  RK_HOST_DEVICE uint16_t pointer_count() const { return pointers_; }
  RK_HOST_DEVICE uint8_t* data() const { return reinterpret_cast<uint8_t*>(data_); }

  // The field of type T at `byte_offset` (a multiple of sizeof(T)).
  template <class T>
  RK_HOST_DEVICE void set(uint32_t byte_offset, T v);
  template <class T>
  RK_HOST_DEVICE T get(uint32_t byte_offset) const {
    if (!ok() || byte_offset % sizeof(T) != 0 || uint64_t(byte_offset) + sizeof(T) > uint64_t(data_words_) * 8)
      return T{};
    return load<T>(data() + byte_offset);
  }
  // A read-modify-write of one byte: with several lanes building one
  // message, set Bools from one lane, or only to true in a zeroed buffer.
  RK_HOST_DEVICE void set_bool(uint32_t bit_offset, bool v);

  RK_HOST_DEVICE PointerBuilder pointer(uint16_t i);
  RK_HOST_DEVICE StructBuilder init_struct(uint16_t i, uint16_t data_words, uint16_t pointers) {
    return pointer(i).init_struct(data_words, pointers);
  }
  RK_HOST_DEVICE uint8_t* init_data(uint16_t i, uint32_t size) { return pointer(i).init_data(size); }
  RK_HOST_DEVICE bool set_data(uint16_t i, const void* bytes, uint32_t size) {
    return pointer(i).set_data(bytes, size);
  }
  template <class T>
  RK_HOST_DEVICE ListBuilder<T> init_list(uint16_t i, uint32_t count) {
    return pointer(i).init_list<T>(count);
  }
  RK_HOST_DEVICE StructListBuilder init_struct_list(uint16_t i, uint32_t count, uint16_t data_words,
                                                    uint16_t pointers);
  RK_HOST_DEVICE PointerListBuilder init_pointer_list(uint16_t i, uint32_t count);

 private:
  MessageBuilder* message_ = nullptr;
  Word* data_ = nullptr;
  uint16_t data_words_ = 0;
  uint16_t pointers_ = 0;
};

// A list of structs being built (composite encoding).
class StructListBuilder {
 public:
  StructListBuilder() = default;  // not ok
  RK_HOST_DEVICE StructListBuilder(MessageBuilder* message, Word* first, uint32_t count, uint16_t data_words,
                                   uint16_t pointers)
      : message_(message), first_(first), count_(count), data_words_(data_words), pointers_(pointers) {}
  RK_HOST_DEVICE bool ok() const { return first_ != nullptr; }
  RK_HOST_DEVICE uint32_t size() const { return count_; }
  RK_HOST_DEVICE StructBuilder get(uint32_t i) const {
    const bool in = i < count_;
    return StructBuilder(message_, in ? first_ + uint64_t(i) * (data_words_ + pointers_) : nullptr,
                         in ? data_words_ : 0, in ? pointers_ : 0);
  }
  RK_HOST_DEVICE StructBuilder operator[](uint32_t i) const { return get(i); }

 private:
  MessageBuilder* message_ = nullptr;
  Word* first_ = nullptr;
  uint32_t count_ = 0;
  uint16_t data_words_ = 0, pointers_ = 0;
};

// A list of pointers being built.
class PointerListBuilder {
 public:
  PointerListBuilder() = default;  // not ok
  RK_HOST_DEVICE PointerListBuilder(MessageBuilder* message, Word* first, uint32_t count)
      : message_(message), first_(first), count_(count) {}
  RK_HOST_DEVICE bool ok() const { return first_ != nullptr; }
  RK_HOST_DEVICE uint32_t size() const { return count_; }
  RK_HOST_DEVICE PointerBuilder get(uint32_t i) const { return PointerBuilder(message_, i < count_ ? first_ + i : nullptr); }
  RK_HOST_DEVICE PointerBuilder operator[](uint32_t i) const { return get(i); }

 private:
  MessageBuilder* message_ = nullptr;
  Word* first_ = nullptr;
  uint32_t count_ = 0;
};

// The message: framing word, root pointer, then everything allocated.
class MessageBuilder {
 public:
  // `buffer` must be 8-byte aligned; `capacity` is rounded down to whole
  // words and must hold at least the framing and the root pointer.
  RK_HOST_DEVICE MessageBuilder(void* buffer, uint32_t capacity, bool zeroed = false) : zeroed_(zeroed) {
    if (buffer == nullptr || reinterpret_cast<uintptr_t>(buffer) % 8 != 0 || capacity < 16) {
      error_ = BuildError::overflow;
      return;
    }
    words_ = static_cast<Word*>(buffer);
    capacity_words_ = capacity / 8;
    used_words_ = 2;
    words_[0] = 0;  // framing, completed by finish()
    words_[1] = 0;  // root pointer: null until set
  }
  MessageBuilder(const MessageBuilder&) = delete;
  MessageBuilder& operator=(const MessageBuilder&) = delete;

  RK_HOST_DEVICE PointerBuilder root() { return PointerBuilder(this, words_ ? words_ + 1 : nullptr); }
  RK_HOST_DEVICE StructBuilder init_root(uint16_t data_words, uint16_t pointers) {
    return root().init_struct(data_words, pointers);
  }

  // Completes the framing. Returns the message's length in bytes, or 0 if
  // building failed (error() says why).
  RK_HOST_DEVICE uint32_t finish() {
    if (error_ != BuildError::none || words_ == nullptr) return 0;
    words_[0] = Word(used_words_ - 1) << 32;  // one segment; its length in words
    return used_words_ * 8;
  }

  RK_HOST_DEVICE bool ok() const { return error_ == BuildError::none; }
  RK_HOST_DEVICE BuildError error() const { return error_; }
  RK_HOST_DEVICE uint32_t used_bytes() const { return used_words_ * 8; }
  RK_HOST_DEVICE uint32_t capacity_bytes() const { return capacity_words_ * 8; }
  RK_HOST_DEVICE uint32_t used_words() const { return used_words_; }

  // `words` zeroed words at the end of the message, or nullptr (and the
  // overflow error) if they do not fit. Allocation stops after any error.
  RK_HOST_DEVICE Word* allocate(uint64_t words) {
    if (error_ != BuildError::none || words_ == nullptr) return nullptr;
    if (words > uint64_t(capacity_words_ - used_words_)) {
      note_overflow();
      return nullptr;
    }
    Word* at = words_ + used_words_;
    if (!zeroed_)
      for (uint64_t i = 0; i < words; ++i) at[i] = 0;
    used_words_ += uint32_t(words);
    return at;
  }
  RK_HOST_DEVICE void note_overflow() {
    if (error_ == BuildError::none) error_ = BuildError::overflow;
  }
  RK_HOST_DEVICE void misuse() {
    if (error_ == BuildError::none) error_ = BuildError::misuse;
  }
  // Drops everything allocated after the first `used_words` (zeroing it, so
  // no stale bytes remain and a zeroed buffer stays zeroed: the CUDA
  // backend's device reply stage relies on it) and clears the error.
  // Pointers into the dropped part must be reset by the caller.
  RK_HOST_DEVICE void rewind(uint32_t used_words) {
    if (words_ == nullptr || used_words < 2 || used_words > used_words_) return;
    for (uint32_t i = used_words; i < used_words_; ++i) words_[i] = 0;
    used_words_ = used_words;
    error_ = BuildError::none;
  }

 private:
  Word* words_ = nullptr;       // words_[0] is the framing; the segment follows
  uint32_t capacity_words_ = 0;
  uint32_t used_words_ = 0;     // framing included
  BuildError error_ = BuildError::none;
  bool zeroed_ = false;
};

// ---- pointer slots --------------------------------------------------------

RK_HOST_DEVICE inline Word* PointerBuilder::allocate_and_point(uint64_t words, Word shape) {
  if (!ok()) return nullptr;
  Word* at = message_->allocate(words);
  if (at == nullptr) return nullptr;
  *loc_ = shape | Word(uint32_t(int32_t(at - (loc_ + 1))) << 2);
  return at;
}

RK_HOST_DEVICE inline StructBuilder PointerBuilder::init_struct(uint16_t data_words, uint16_t pointers) {
  const bool empty = data_words == 0 && pointers == 0;
  // An empty struct points just before itself: offset 0 would read as null.
  if (empty && ok()) *loc_ = struct_pointer(-1, 0, 0);
  Word* at = empty ? loc_ : allocate_and_point(uint64_t(data_words) + pointers, struct_pointer(0, data_words, pointers));
  return StructBuilder(message_, at, at ? data_words : 0, at ? pointers : 0);
}

RK_HOST_DEVICE inline Word* PointerBuilder::init_raw_list(ElementSize size, uint32_t count) {
  if (!ok()) return nullptr;
  if (count > kMaxListElements || size == ElementSize::composite) {
    message_->note_overflow();
    return nullptr;
  }
  return allocate_and_point(list_words(size, count), list_pointer(0, size, count));
}

RK_HOST_DEVICE inline uint8_t* PointerBuilder::init_data(uint32_t size) {
  return reinterpret_cast<uint8_t*>(init_raw_list(ElementSize::byte, size));
}

RK_HOST_DEVICE inline bool PointerBuilder::set_data(const void* bytes, uint32_t size) {
  uint8_t* to = init_data(size);
  if (to == nullptr) return false;
  if (size) __builtin_memcpy(to, bytes, size);
  return true;
}

template <class T>
RK_HOST_DEVICE inline ListBuilder<T> PointerBuilder::init_list(uint32_t count) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "primitive elements only");
  Word* at = init_raw_list(element_size_of<T>(), count);
  return at ? ListBuilder<T>(reinterpret_cast<uint8_t*>(at), count) : ListBuilder<T>();
}

RK_HOST_DEVICE inline StructListBuilder PointerBuilder::init_struct_list(uint32_t count, uint16_t data_words,
                                                                        uint16_t pointers) {
  const uint64_t words = uint64_t(count) * (uint64_t(data_words) + pointers);
  const bool fits = words <= kMaxListElements && count <= kMaxListElements;
  if (ok() && !fits) message_->note_overflow();
  Word* tag = fits ? allocate_and_point(words + 1, list_pointer(0, ElementSize::composite, uint32_t(words))) : nullptr;
  if (tag) *tag = composite_tag(count, data_words, pointers);
  return StructListBuilder(message_, tag ? tag + 1 : nullptr, tag ? count : 0, tag ? data_words : 0,
                           tag ? pointers : 0);
}

RK_HOST_DEVICE inline PointerListBuilder PointerBuilder::init_pointer_list(uint32_t count) {
  Word* at = init_raw_list(ElementSize::pointer, count);
  return PointerListBuilder(message_, at, at ? count : 0);
}

// ---- struct fields ----------------------------------------------------------

template <class T>
RK_HOST_DEVICE inline void StructBuilder::set(uint32_t byte_offset, T v) {
  if (!ok()) return;
  if (byte_offset % sizeof(T) != 0 || uint64_t(byte_offset) + sizeof(T) > uint64_t(data_words_) * 8) {
    message_->misuse();
    return;
  }
  store<T>(data() + byte_offset, v);
}

RK_HOST_DEVICE inline void StructBuilder::set_bool(uint32_t bit_offset, bool v) {
  if (!ok()) return;
  if (bit_offset / 8 >= uint32_t(data_words_) * 8) {
    message_->misuse();
    return;
  }
  uint8_t& byte = data()[bit_offset / 8];
  const uint8_t mask = uint8_t(1u << (bit_offset % 8));
  byte = v ? uint8_t(byte | mask) : uint8_t(byte & ~mask);
}

RK_HOST_DEVICE inline PointerBuilder StructBuilder::pointer(uint16_t i) {
  const bool in = i < pointers_;  // never, when not ok
  if (ok() && !in) message_->misuse();
  return PointerBuilder(message_, in ? data_ + data_words_ + i : nullptr);
}

RK_HOST_DEVICE inline StructListBuilder StructBuilder::init_struct_list(uint16_t i, uint32_t count,
                                                                       uint16_t data_words, uint16_t pointers) {
  return pointer(i).init_struct_list(count, data_words, pointers);
}

RK_HOST_DEVICE inline PointerListBuilder StructBuilder::init_pointer_list(uint16_t i, uint32_t count) {
  return pointer(i).init_pointer_list(count);
}

}  // namespace rk::proto
