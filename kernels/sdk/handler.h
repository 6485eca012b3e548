// How a kernel is written and registered.
//
// A handler is one function, written once as RK_HOST_DEVICE inline code:
//
//   RK_HOST_DEVICE inline void my_kernel(rk::Context& ctx, rk::MessageView in, rk::Reply& out);
//
// The CPU backend calls it through a Handler pointer; the CUDA backend
// instantiates it directly in its persistent kernel (device code cannot call
// host function pointers). It reads the request in place, builds the reply
// in place, and reports every problem as a reply status (out.fail(...)),
// never by crashing, throwing or allocating.
#pragma once
#include <cstdint>

#include "kernels/sdk/context.h"
#include "kernels/sdk/message.h"

namespace rk {

using Handler = void (*)(Context& ctx, MessageView in, Reply& out);

struct KernelDef {
  const char* name;        // what clients launch it by
  Handler host_handler;    // the CPU backend's entry
  uint32_t state_bytes;    // persistent state allocated (zeroed) at launch
  uint32_t default_grid;   // launch defaults, when the client gives none
  uint32_t default_block;
  // true: all threads of a block work on one message together (lanes = the
  // block). false: on the GPU each message is handled by one warp (lanes =
  // its 32 threads), several warps of a block serving several messages.
  bool block_per_message;
};

}  // namespace rk
