// Every built-in kernel, and a switch over them for device code, which
// cannot call through the registry's host function pointers. The order of
// Builtin is the order of rk::builtin_kernels() (kernels/registry.h).
#pragma once
#include <cstdint>

#include "kernels/builtin/counter.h"
#include "kernels/builtin/echo.h"
#include "kernels/builtin/reduce_sum.h"
#include "kernels/builtin/saxpy.h"

namespace rk::builtin {

enum class Builtin : uint32_t { echo = 0, counter, saxpy, reduce_sum, count };

// Whether built-in `which` gives the whole block to each message (the
// registry's KernelDef::block_per_message, which must agree: registry.cpp
// checks). The CUDA backend compiles one persistent kernel per built-in.
RK_HOST_DEVICE constexpr bool block_per_message(Builtin which) {
  return which == Builtin::saxpy || which == Builtin::reduce_sum;
}

// Runs built-in `which`; false (and nothing done) for an unknown one.
RK_HOST_DEVICE inline bool run_builtin(Builtin which, Context& ctx, MessageView in, Reply& out) {
  switch (which) {
    case Builtin::echo: echo(ctx, in, out); return true;
    case Builtin::counter: counter(ctx, in, out); return true;
    case Builtin::saxpy: saxpy(ctx, in, out); return true;
    case Builtin::reduce_sum: reduce_sum(ctx, in, out); return true;
    case Builtin::count: break;
  }
  return false;
}

}  // namespace rk::builtin
