// reduce_sum: ReduceSumRequest {values} -> ReduceSumReply {sum}, summed in
// double: each lane sums its share, then the lanes reduce together.
#pragma once
#include "kernels/builtin/layouts.h"
#include "kernels/sdk/handler.h"

namespace rk::builtin {

RK_HOST_DEVICE inline void reduce_sum(Context& ctx, MessageView in, Reply& out) {
  using Request = layout::ReduceSumRequest;
  using Result = layout::ReduceSumReply;
  const proto::StructView request = in.payload_struct();
  const proto::ListView<float> values = request.get_list<float>(Request::kValues);
  if (!request.ok() || !values.ok()) return out.fail(status::malformed);

  // Eight loads in flight per lane: in-order GPU threads would otherwise
  // wait out one memory latency per value.
  constexpr uint32_t kInFlight = 8;
  const uint32_t n = values.size(), step = ctx.lanes();
  double partial = 0;
  uint32_t i = ctx.lane();
#ifdef __CUDA_ARCH__
  // Packed values, the usual case, are read 16 bytes per load from the
  // first 16-byte boundary on: a quarter of the loads, which is what held a
  // block for most of a 64 KiB request. List data is word-aligned, so at
  // most two values come before the boundary. Which lane adds which value
  // depends on that boundary, so the last bits of a sum may differ between
  // two copies of a request at different addresses (each is exact to
  // double rounding; the host adds in index order).
  if (values.contiguous() && n >= 4) {
    const uint32_t head = uint32_t((16 - (reinterpret_cast<uintptr_t>(values.data()) & 15)) & 15) / 4;
    const float4* quads = reinterpret_cast<const float4*>(values.data() + head * 4);
    const uint32_t nq = (n - head) / 4;
    for (uint32_t h = i; h < head; h += step) partial += values[h];
    uint32_t q = i;
    for (; q + (kInFlight - 1) * step < nq; q += kInFlight * step) {
      float4 v[kInFlight];
      for (uint32_t j = 0; j < kInFlight; ++j) v[j] = quads[q + j * step];
      for (uint32_t j = 0; j < kInFlight; ++j) partial += double(v[j].x) + v[j].y + v[j].z + v[j].w;
    }
    for (; q < nq; q += step) partial += double(quads[q].x) + quads[q].y + quads[q].z + quads[q].w;
    i = head + 4 * nq + ctx.lane();  // the last values, fewer than four
  }
#endif
  for (; i + (kInFlight - 1) * step < n; i += kInFlight * step) {
    float v[kInFlight];
    for (uint32_t j = 0; j < kInFlight; ++j) v[j] = values[i + j * step];
    for (uint32_t j = 0; j < kInFlight; ++j) partial += v[j];
  }
  for (; i < n; i += step) partial += values[i];
  const double sum = ctx.reduce_add(partial);

  proto::StructBuilder result = out.init_struct(Result::kDataWords, Result::kPointers);
  if (!result.ok()) return out.fail(status::too_large);
  result.set<double>(Result::kSum, sum);
}

}  // namespace rk::builtin
