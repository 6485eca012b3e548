// The Cap'n Proto pointer word, shared by the view and the builder.
//
//   struct:  [B:30 offset][A:2 = 0] [C:16 data words] [D:16 pointer count]
//   list:    [B:30 offset][A:2 = 1] [C:3 element size] [D:29 element count]
//   far (2) and other/capability (3) pointers: never valid here, since our
//   messages are single-segment and carry no capabilities.
// The offset counts words from the end of the pointer to the target. For a
// composite (struct) list, D counts words, and the target starts with a tag
// word shaped like a struct pointer whose offset field is the element count.
#pragma once
#include <cstdint>

#include "kernels/sdk/config.h"

namespace rk::proto {

using Word = uint64_t;

enum class PointerKind : uint32_t { struct_ = 0, list = 1, far = 2, other = 3 };

enum class ElementSize : uint32_t {
  void_ = 0,
  bit = 1,
  byte = 2,
  two_bytes = 3,
  four_bytes = 4,
  eight_bytes = 5,
  pointer = 6,
  composite = 7,
};

// Element counts, list word counts and struct-list element counts are 29-bit.
inline constexpr uint32_t kMaxListElements = (1u << 29) - 1;

RK_HOST_DEVICE constexpr PointerKind pointer_kind(Word w) { return PointerKind(uint32_t(w) & 3u); }
// Signed 30-bit word offset; C++20 defines >> of a negative as arithmetic.
RK_HOST_DEVICE constexpr int32_t pointer_offset(Word w) { return int32_t(uint32_t(w)) >> 2; }
RK_HOST_DEVICE constexpr uint16_t struct_data_words(Word w) { return uint16_t(w >> 32); }
RK_HOST_DEVICE constexpr uint16_t struct_pointer_count(Word w) { return uint16_t(w >> 48); }
RK_HOST_DEVICE constexpr ElementSize list_element_size(Word w) { return ElementSize(uint32_t(w >> 32) & 7u); }
RK_HOST_DEVICE constexpr uint32_t list_count(Word w) { return uint32_t(w >> 35); }
// A composite list's tag keeps the element count in the offset field, unsigned.
RK_HOST_DEVICE constexpr uint32_t tag_element_count(Word tag) { return uint32_t(tag) >> 2; }

RK_HOST_DEVICE constexpr Word struct_pointer(int32_t offset, uint16_t data_words, uint16_t pointers) {
  return Word(uint32_t(offset) << 2) | (Word(data_words) << 32) | (Word(pointers) << 48);
}
RK_HOST_DEVICE constexpr Word list_pointer(int32_t offset, ElementSize size, uint32_t count) {
  return Word(uint32_t(offset) << 2) | 1u | (Word(uint32_t(size)) << 32) | (Word(count) << 35);
}
RK_HOST_DEVICE constexpr Word composite_tag(uint32_t elements, uint16_t data_words, uint16_t pointers) {
  return Word(elements << 2) | (Word(data_words) << 32) | (Word(pointers) << 48);
}

// Data bits per element of a non-composite list (a pointer element has
// none): one byte per encoded size, read with a shift, since a switch
// compiles to a chain of branches on the device.
RK_HOST_DEVICE constexpr uint32_t element_data_bits(ElementSize s) {
  constexpr uint64_t kBits = 0x0000402010080100ull;  // void 0, bit 1, byte 8, ... 8 bytes 64, pointer 0, composite 0
  return uint32_t(kBits >> (8 * uint32_t(s))) & 0xffu;
}

// Words a non-composite list of `count` elements occupies.
RK_HOST_DEVICE constexpr uint64_t list_words(ElementSize s, uint32_t count) {
  const uint64_t bits = s == ElementSize::pointer ? 64 : element_data_bits(s);
  return (bits * count + 63) / 64;
}

template <class T>
inline constexpr bool is_bool_v = false;
template <>
inline constexpr bool is_bool_v<bool> = true;

// The element size that stores a T, for primitive lists (List(Bool) packs
// bits and is not supported by the views or builders).
template <class T>
RK_HOST_DEVICE constexpr ElementSize element_size_of() {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8,
                "primitive list elements are 1, 2, 4 or 8 bytes");
  static_assert(!is_bool_v<T>, "bit lists (List(Bool)) are not supported");
  return sizeof(T) == 1   ? ElementSize::byte
         : sizeof(T) == 2 ? ElementSize::two_bytes
         : sizeof(T) == 4 ? ElementSize::four_bytes
                          : ElementSize::eight_bytes;
}

}  // namespace rk::proto
