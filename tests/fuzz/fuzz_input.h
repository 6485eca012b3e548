// Splits a fuzzer's input into the pieces a target feeds its code under
// test: fixed-size fields and length-prefixed chunks, never reading past the
// end (a short input just yields short or empty pieces).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace rk::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), left_(size) {}

  size_t left() const { return left_; }
  bool empty() const { return left_ == 0; }

  // A little-endian integer, zero-filled where the input ran out.
  template <class T>
  T take() {
    T v{};
    const size_t n = left_ < sizeof v ? left_ : sizeof v;
    std::memcpy(&v, p_, n);
    p_ += n;
    left_ -= n;
    return v;
  }
  // Up to n bytes (fewer at the end of the input).
  std::span<const uint8_t> bytes(size_t n) {
    if (n > left_) n = left_;
    std::span<const uint8_t> s(p_, n);
    p_ += n;
    left_ -= n;
    return s;
  }
  // A chunk prefixed by its u16 length.
  std::span<const uint8_t> chunk() { return bytes(take<uint16_t>()); }
  std::span<const uint8_t> rest() { return bytes(left_); }

 private:
  const uint8_t* p_;
  size_t left_;
};

}  // namespace rk::fuzz
