// Wire layouts of the built-in kernels' payloads (schema/kernels.capnp):
// data section and pointer section sizes, byte offsets of data fields,
// indices of pointer fields. Tests check them against capnp's generated code.
#pragma once
#include <cstdint>

namespace rk::builtin::layout {

struct SaxpyRequest {
  static constexpr uint16_t kDataWords = 1, kPointers = 2;
  static constexpr uint32_t kA = 0;  // Float32
  static constexpr uint16_t kX = 0;  // List(Float32)
  static constexpr uint16_t kY = 1;  // List(Float32)
};

struct SaxpyReply {
  static constexpr uint16_t kDataWords = 0, kPointers = 1;
  static constexpr uint16_t kY = 0;  // List(Float32)
};

struct ReduceSumRequest {
  static constexpr uint16_t kDataWords = 0, kPointers = 1;
  static constexpr uint16_t kValues = 0;  // List(Float32)
};

struct ReduceSumReply {
  static constexpr uint16_t kDataWords = 1, kPointers = 0;
  static constexpr uint32_t kSum = 0;  // Float64
};

}  // namespace rk::builtin::layout
