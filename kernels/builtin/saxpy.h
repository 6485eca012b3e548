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
  for (uint32_t i = ctx.lane(); i < x.size(); i += ctx.lanes()) result.set(i, a * x[i] + y[i]);
}

}  // namespace rk::builtin
