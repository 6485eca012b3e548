// saxpy: SaxpyRequest {a, x, y} -> SaxpyReply {y = a * x + y}, the lanes
// taking elements in turn. x and y of different lengths are malformed.
#pragma once
#include "kernels/builtin/layouts.h"
#include "kernels/sdk/handler.h"

namespace rk::builtin {

RK_HOST_DEVICE inline void saxpy(Context& ctx, MessageView in, Reply& out) {
  using Request = layout::SaxpyRequest;
  using Result = layout::SaxpyReply;
  const proto::StructView request = in.payload_struct();
  const float a = request.get<float>(Request::kA);
  const proto::ListView<float> x = request.get_list<float>(Request::kX);
  const proto::ListView<float> y = request.get_list<float>(Request::kY);
  if (!request.ok() || !x.ok() || !y.ok() || x.size() != y.size()) return out.fail(status::malformed);

  proto::ListBuilder<float> result =
      out.init_struct(Result::kDataWords, Result::kPointers).init_list<float>(Result::kY, x.size());
  if (!result.ok()) return out.fail(status::too_large);
  ctx.sync();
  // Loads of several elements before their stores: the compiler may not
  // move a load above a store that could alias it, and in-order GPU
  // threads would wait out a memory latency per element.
  constexpr uint32_t kInFlight = 4;
  const uint32_t n = x.size(), step = ctx.lanes();
  uint32_t i = ctx.lane();
  for (; i + (kInFlight - 1) * step < n; i += kInFlight * step) {
    float xs[kInFlight], ys[kInFlight];
    for (uint32_t j = 0; j < kInFlight; ++j) {
      xs[j] = x[i + j * step];
      ys[j] = y[i + j * step];
    }
    for (uint32_t j = 0; j < kInFlight; ++j) result.set(i + j * step, a * xs[j] + ys[j]);
  }
  for (; i < n; i += step) result.set(i, a * x[i] + y[i]);
}

}  // namespace rk::builtin
