// rk_bench_gpu_handler_cost: what one small message costs inside the persistent
// kernel's serving loop, split into its parts, with the code and data warm:
// parsing the request Envelope, building the reply, and the whole
// handle_message of each built-in, for a 64 B Data request in shared memory
// served by one warp (the CUDA backend's warp-per-message path). Beside it,
// a 64 B warp copy in shared memory as the baseline of doing nothing but
// moving the bytes. Prints ns per message; asserts nothing. With
// `--echo-loop`, only the echo in a kernel of its own, for a profiler.
#include <cuda/atomic>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

#include "kernels/builtin/builtins.h"
#include "kernels/sdk/dispatch.h"
#include "server/cuda/gpu_layout.h"

namespace {

constexpr int kIters = 2000;
constexpr uint32_t kPayload = 64;
constexpr uint32_t kRecord = 1024;

__device__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ uint64_t g_sink;

enum Probe : int {
  kCopyOnly,
  kParseOnly,
  kBuildOnly,
  kEcho,
  kCounter,
  kEchoAfterFence,
  kCounterAfterFence,
  kFenceOnly,
  kEmptyHandler,
  kEchoDataOnly,
  kAsDataOnly,
  kInitDataOnly,
  kProbeCount
};
const char* kNames[kProbeCount] = {
    "64 B warp copy in shared memory (baseline)",
    "MessageView::parse of the request",
    "Reply: envelope + 64 B Data, finish",
    "handle_message(echo), whole",
    "handle_message(counter), whole",
    "acquire fence (system) + handle_message(echo)",
    "acquire fence (system) + handle_message(counter)",
    "acquire fence (system) alone",
    "handle_message, a handler that does nothing",
    "handle_message, echo's Data branch alone",
    "handle_message, payload().as_data() alone",
    "handle_message, init_data(64) + a 64 B copy alone",
};

template <class Body>
__device__ void time_it(double* out, Probe p, Body body) {
  body();
  __syncwarp();
  const uint64_t t0 = globaltimer();
  for (int i = 0; i < kIters; ++i) {
    body();
    __syncwarp();
  }
  const uint64_t t1 = globaltimer();
  if (threadIdx.x == 0) out[p] = double(t1 - t0) / kIters;
}

// The 64 B Data request every probe serves. Every lane builds the same
// one (the builder is deterministic).
__device__ uint32_t build_request(rk::Context& ctx, uint8_t* request) {
  rk::Reply req(request, kRecord);
  req.set_type(7);
  req.set_correlation(42);
  uint8_t* data = req.init_data(kPayload);
  __syncwarp();
  for (uint32_t i = ctx.lane(); i < kPayload; i += 32) data[i] = uint8_t(i);
  __syncwarp();
  return req.finish();
}

__global__ void probe(double* out, uint64_t* state) {
  __shared__ alignas(8) uint8_t request[kRecord];
  __shared__ alignas(8) uint8_t reply[kRecord];
  rk::Context ctx = rk::Context::for_warp(1, state, 64);
  const uint32_t request_bytes = build_request(ctx, request);
  uint64_t sink = 0;
  time_it(out, kCopyOnly, [&] { ctx.copy(reply, request, kPayload); });
  time_it(out, kParseOnly, [&] {
    rk::MessageView in;
    sink += rk::MessageView::parse(request, request_bytes, &in) ? in.correlation() : 1;
  });
  time_it(out, kBuildOnly, [&] {
    rk::Reply r(reply, kRecord);
    r.set_type(7);
    uint8_t* d = r.init_data(kPayload);
    __syncwarp();
    ctx.copy(d, request, kPayload);
    sink += r.finish();
  });
  auto run = [&](rk::builtin::Builtin which) {
    return [&, which] {
      auto handler = [which](rk::Context& c, rk::MessageView in, rk::Reply& o) { rk::builtin::run_builtin(which, c, in, o); };
      sink += rk::handle_message(handler, ctx, request, request_bytes, reply, kRecord).reply_bytes;
    };
  };
  time_it(out, kEcho, run(rk::builtin::Builtin::echo));
  time_it(out, kCounter, run(rk::builtin::Builtin::counter));
  // In the persistent kernel every message follows an acquire (the scout's
  // load of the tail), which may drop what L1 held: the handler's objects
  // and whatever of the request it re-reads.
  auto after_fence = [&](rk::builtin::Builtin which) {
    return [&, which] {
      cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system);
      run(which)();
    };
  };
  time_it(out, kEchoAfterFence, after_fence(rk::builtin::Builtin::echo));
  time_it(out, kCounterAfterFence, after_fence(rk::builtin::Builtin::counter));
  time_it(out, kFenceOnly, [] { cuda::atomic_thread_fence(cuda::std::memory_order_acquire, cuda::thread_scope_system); });
  // handle_message split into its parts: what any handler pays (parse, the
  // reply's envelope, finish) and what echo's Data branch adds. On an H100
  // the whole echo costs about 0.4 µs more than its Data branch alone: the
  // branch test and, mostly, the struct-copying branch compiled beside it.
  auto handled = [&](auto handler) {
    return [&, handler] { sink += rk::handle_message(handler, ctx, request, request_bytes, reply, kRecord).reply_bytes; };
  };
  time_it(out, kEmptyHandler, handled([](rk::Context&, rk::MessageView, rk::Reply&) {}));
  time_it(out, kEchoDataOnly, handled([](rk::Context& c, rk::MessageView in, rk::Reply& o) {
            const rk::proto::DataView data = in.payload().as_data();
            if (!data.ok()) return o.fail(rk::status::malformed);
            uint8_t* to = o.init_data(data.size());
            if (to == nullptr) return o.fail(rk::status::too_large);
            c.sync();
            c.copy(to, data.data(), data.size());
          }));
  time_it(out, kAsDataOnly, handled([](rk::Context&, rk::MessageView in, rk::Reply& o) {
            if (!in.payload().as_data().ok()) o.fail(rk::status::malformed);
          }));
  time_it(out, kInitDataOnly, handled([](rk::Context& c, rk::MessageView in, rk::Reply& o) {
            uint8_t* to = o.init_data(kPayload);
            if (to == nullptr || in.record_bytes() < kPayload) return o.fail(rk::status::too_large);
            c.sync();
            c.copy(to, in.record(), kPayload);
          }));
  if (threadIdx.x == 0) g_sink = sink;
}

// `--echo-loop`: only the 64 B echo, served as the service's warp paths
// serve it (the lanes zero the reply's room, its request size plus
// kReplySlack, then handle_message builds into it), in a kernel of its own, so
// that a profiler's per-instruction counters are this path's alone:
//   ncu --kernel-name echo_loop --section SourceCounters
//       --section WarpStateStats rk_bench_gpu_handler_cost --echo-loop
// (the persistent kernel itself cannot be profiled: ncu serializes its
// launch, which never returns while clients wait).
__global__ void echo_loop(double* cycles, uint64_t* state) {
  __shared__ alignas(8) uint8_t request[kRecord];
  __shared__ alignas(8) uint8_t reply[kRecord];
  rk::Context ctx = rk::Context::for_warp(1, state, 64);
  const uint32_t request_bytes = build_request(ctx, request);
  const uint32_t room = request_bytes + rk::server::gpu::kReplySlack;
  auto handler = [](rk::Context& c, rk::MessageView in, rk::Reply& o) {
    rk::builtin::run_builtin(rk::builtin::Builtin::echo, c, in, o);
  };
  uint64_t sink = 0;
  const long long t0 = clock64();
  for (int i = 0; i < kIters; ++i) {
    for (uint32_t b = 8 * ctx.lane(); b < room; b += 8 * 32) rk::store<uint64_t>(reply + b, 0);
    __syncwarp();
    sink += rk::handle_message(handler, ctx, request, request_bytes, reply, room, true).reply_bytes;
    __syncwarp();
  }
  const long long t1 = clock64();
  if (threadIdx.x == 0) {
    g_sink = sink;
    *cycles = double(t1 - t0) / kIters;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("rk_bench_gpu_handler_cost: no CUDA device, nothing measured\n");
    return 0;
  }
  double* out = nullptr;
  uint64_t* state = nullptr;
  if (cudaMallocManaged(&out, sizeof(double) * kProbeCount) != cudaSuccess || cudaMalloc(&state, 64) != cudaSuccess ||
      cudaMemset(state, 0, 64) != cudaSuccess) {
    std::fprintf(stderr, "rk_bench_gpu_handler_cost: allocation failed\n");
    return 1;
  }
  const bool echo_only = argc > 1 && std::strcmp(argv[1], "--echo-loop") == 0;
  if (echo_only) {
    for (int warm = 0; warm < 2; ++warm) echo_loop<<<1, 32>>>(out, state);
  } else {
    probe<<<1, 32>>>(out, state);
  }
  if (cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) {
    std::fprintf(stderr, "rk_bench_gpu_handler_cost: %s\n", cudaGetErrorString(e));
    return 1;
  }
  if (echo_only) std::printf("  64 B echo as the warp paths serve it: %.0f cycles per message\n", out[0]);
  else
    for (int i = 0; i < kProbeCount; ++i) std::printf("  %-48s %9.1f ns\n", kNames[i], out[i]);
  cudaFree(out);
  cudaFree(state);
  return 0;
}
