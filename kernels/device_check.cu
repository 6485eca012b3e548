// Compile-only proof that the kernel SDK and every built-in build as device
// code for sm_90: a __global__ function instantiates the view, the builder,
// the copy, the dispatch policy and each built-in. Nothing launches it;
// building it needs nvcc, not a GPU.
#include "kernels/builtin/builtins.h"
#include "kernels/sdk/capnp_builder.h"
#include "kernels/sdk/capnp_copy.h"
#include "kernels/sdk/capnp_view.h"
#include "kernels/sdk/dispatch.h"

namespace {

struct RunBuiltin {
  rk::builtin::Builtin which;
  __device__ void operator()(rk::Context& ctx, rk::MessageView in, rk::Reply& out) const {
    if (!rk::builtin::run_builtin(which, ctx, in, out)) out.fail(rk::status::invalid_argument);
  }
};

// The parts of the view and builder no built-in happens to use.
__device__ uint64_t exercise_proto(const void* message, uint32_t len, void* buffer, uint32_t capacity) {
  rk::proto::MessageReader reader;
  if (!rk::proto::MessageReader::open(message, len, &reader)) return 0;
  const rk::proto::StructView root = reader.root();
  uint64_t seen = root.get<uint64_t>(0) + root.get_bool(3) + root.get_data(0).size();
  const rk::proto::StructListView structs = root.get_struct_list(1);
  for (uint32_t i = 0; i < structs.size(); ++i) seen += structs[i].get<int32_t>(4);
  const rk::proto::PointerListView pointers = root.get_pointer_list(2);
  for (uint32_t i = 0; i < pointers.size(); ++i) seen += pointers[i].as_list<int64_t>().get(0);
  seen += root.get_struct(3).get<uint16_t>(2);

  rk::proto::MessageBuilder builder(buffer, capacity, true);
  rk::proto::StructBuilder out = builder.init_root(2, 3);
  out.set<uint64_t>(0, seen);
  out.set_bool(65, true);
  rk::proto::StructListBuilder list = out.init_struct_list(0, 4, 1, 1);
  for (uint32_t i = 0; i < list.size(); ++i) list[i].set<double>(0, i);
  rk::proto::PointerListBuilder lists = out.init_pointer_list(1, 2);
  lists[0].init_list<int16_t>(3).set(1, 7);
  rk::proto::copy_pointer(reader.root_pointer(), out.pointer(2));
  return builder.finish();
}

}  // namespace

__global__ void rk_kernels_device_check(uint32_t which, const void* request, uint32_t request_bytes, void* reply,
                                        uint32_t reply_capacity, void* state, uint32_t state_bytes,
                                        uint64_t* result) {
  extern __shared__ double scratch[];
  rk::Context block = rk::Context::for_block(7, state, state_bytes, scratch);
  const rk::Handled h = rk::handle_message(RunBuiltin{rk::builtin::Builtin(which)}, block, request, request_bytes,
                                           reply, reply_capacity, true);
  rk::Context alone(7, state, state_bytes);
  const rk::Handled single = rk::handle_message(&rk::builtin::counter, alone, request, request_bytes, reply,
                                                reply_capacity);
  block.sync();
  if (block.lane() == 0)
    *result = h.reply_bytes + single.status + exercise_proto(request, request_bytes, reply, reply_capacity);
}
