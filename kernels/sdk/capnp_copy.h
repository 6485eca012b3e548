// Deep copy of what one pointer designates, from a message being read into
// a message being built (echo replies with the request's payload this way).
//
// The copy keeps the source's layout: struct sizes and list encodings are
// reproduced, so a reader of the copy sees exactly what a reader of the
// original saw. It walks iteratively with a fixed stack (no recursion, so the
// device stack size is known at compile time); every source pointer is
// resolved through the view, so bounds, nesting and traversal budget apply.
#pragma once
#include <cstdint>

#include "kernels/sdk/capnp_builder.h"
#include "kernels/sdk/capnp_view.h"
#include "kernels/sdk/config.h"

namespace rk::proto {

enum class CopyResult : uint8_t {
  ok = 0,
  malformed,  // the source broke a bound or a limit
  overflow,   // the copy does not fit the destination
};

namespace detail {

// The pointers of one copied object still to visit: `rows` rows (one per
// struct, or per list element) of `per_row` pointers each, which start
// `skip` words into a row; rows are `stride` words apart. Source and copy
// share that layout.
// No member initialisers: copy_pointer's stack of them would be zeroed on
// every call; frames are written whole (CopyFrame{...}, CopyFrame()) before use.
struct CopyFrame {
  const Word* from;
  Word* to;
  uint32_t rows, stride, skip, per_row, next;
  int32_t nesting;  // for the pointers themselves
  RK_HOST_DEVICE uint64_t pointers() const { return uint64_t(rows) * per_row; }
};

RK_HOST_DEVICE inline void copy_words(Word* to, const Word* from, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) to[i] = from[i];
}

// Copies one object's data and allocates its pointer slots (left null);
// *children says which pointers remain to be copied.
RK_HOST_DEVICE inline CopyResult copy_object(const PointerView& from, PointerBuilder to, CopyFrame* children) {
  *children = CopyFrame();
  const Target t = from.target();
  switch (t.kind) {
    case Target::invalid:
      return CopyResult::malformed;
    case Target::null:
      to.set_null();
      return CopyResult::ok;
    case Target::struct_: {
      StructBuilder s = to.init_struct(t.data_words, t.pointers);
      if (!s.ok()) return CopyResult::overflow;
      Word* data = reinterpret_cast<Word*>(s.data());
      copy_words(data, t.at, t.data_words);
      *children = CopyFrame{t.at, data, 1, 0, t.data_words, t.pointers, 0, from.nesting() - 1};
      return CopyResult::ok;
    }
    case Target::list:
      break;
  }
  if (t.size == ElementSize::composite) {
    StructListBuilder list = to.init_struct_list(t.count, t.data_words, t.pointers);
    if (!list.ok()) return CopyResult::overflow;
    if (t.count == 0) return CopyResult::ok;
    const uint32_t stride = uint32_t(t.data_words) + t.pointers;
    Word* first = reinterpret_cast<Word*>(list.get(0).data());
    for (uint32_t i = 0; i < t.count; ++i)
      copy_words(first + uint64_t(i) * stride, t.at + uint64_t(i) * stride, t.data_words);
    *children = CopyFrame{t.at, first, t.count, stride, t.data_words, t.pointers, 0, from.nesting() - 1};
    return CopyResult::ok;
  }
  Word* words = to.init_raw_list(t.size, t.count);
  if (words == nullptr) return CopyResult::overflow;
  if (t.size == ElementSize::pointer) {
    *children = CopyFrame{t.at, words, t.count, 1, 0, 1, 0, from.nesting() - 1};
  } else {
    copy_words(words, t.at, list_words(t.size, t.count));
  }
  return CopyResult::ok;
}

}  // namespace detail

// Copies what `from` designates into the slot `to`.
RK_HOST_DEVICE inline CopyResult copy_pointer(const PointerView& from, PointerBuilder to) {
  if (!from.ok()) return CopyResult::malformed;
  if (!to.ok()) return CopyResult::overflow;
  // Each level of the stack is one level of nesting, which the view bounds.
  detail::CopyFrame stack[kMaxNesting + 1];
  int depth = 0;
  CopyResult r = detail::copy_object(from, to, &stack[0]);
  if (r != CopyResult::ok) return r;
  if (stack[0].pointers() != 0) depth = 1;
  while (depth > 0) {
    detail::CopyFrame& top = stack[depth - 1];
    if (top.next == top.pointers()) {
      --depth;
      continue;
    }
    const uint32_t row = top.next / top.per_row, column = top.next % top.per_row;
    ++top.next;
    const uint64_t at = uint64_t(row) * top.stride + top.skip + column;
    detail::CopyFrame child;
    r = detail::copy_object(PointerView(from.segment(), top.from + at, top.nesting),
                            PointerBuilder(to.message(), top.to + at), &child);
    if (r != CopyResult::ok) return r;
    if (child.pointers() == 0) continue;
    if (depth == kMaxNesting + 1) return CopyResult::malformed;  // deeper than any limit we hand out
    stack[depth++] = child;
  }
  return CopyResult::ok;
}

}  // namespace rk::proto
