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

  // Eight loads in flight per lane, added in index order (the same sum as
  // one at a time): in-order GPU threads would otherwise wait out one
  // memory latency per value.
  constexpr uint32_t kInFlight = 8;
  const uint32_t n = values.size(), step = ctx.lanes();
  double partial = 0;
  uint32_t i = ctx.lane();
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
