// saxpy: y = a*x + y on a persistent kernel. The request (a SaxpyRequest
// Cap'n Proto struct) is built straight into the ring; the reply is read
// where it lies in the ring.
#include <ringkernel/ringkernel.hpp>

#include <cstdio>
#include <exception>
#include <vector>

#include "rk_schema/envelope.capnp.h"
#include "rk_schema/kernels.capnp.h"

using rk::schema::Envelope;
using rk::schema::SaxpyReply;
using rk::schema::SaxpyRequest;

int main(int argc, char** argv) try {
  rk::Client client(argc > 1 ? argv[1] : nullptr);  // NULL: default socket or $RINGKERNEL_SOCKET
  rk::Kernel saxpy = client.launch("saxpy");         // private to this process, launched inactive
  saxpy.activate();

  constexpr uint32_t n = 1024;
  constexpr float a = 2.5f;
  std::vector<float> x(n), y(n);
  for (uint32_t i = 0; i < n; ++i) {
    x[i] = float(i);
    y[i] = 1.0f - float(i) / 2;
  }

  // Two lists of n floats plus headers: 16 KiB is room enough.
  constexpr uint32_t kType = 1;
  const uint64_t correlation = saxpy.send_typed<Envelope, SaxpyRequest>(kType, 16 * 1024, [&](SaxpyRequest::Builder req) {
    req.setA(a);
    auto xs = req.initX(n);
    auto ys = req.initY(n);
    for (uint32_t i = 0; i < n; ++i) {
      xs.set(i, x[i]);
      ys.set(i, y[i]);
    }
  });

  rk::Message reply = saxpy.receive();
  if (reply.correlation() != correlation || reply.status() != RK_OK) {
    std::fprintf(stderr, "saxpy: unexpected reply (correlation %llu, status %s)\n",
                 static_cast<unsigned long long>(reply.correlation()), rk_status_string(reply.status()));
    return 1;
  }
  auto reader = reply.reader<Envelope>();
  auto result = reader.getRoot<Envelope>().getPayload().getAs<SaxpyReply>().getY();

  uint32_t wrong = 0;
  if (result.size() != n) {
    std::fprintf(stderr, "saxpy: %u results for %u inputs\n", result.size(), n);
    return 1;
  }
  for (uint32_t i = 0; i < n; ++i)
    // Multiples of 0.5 far below 2^24: exact whether or not the kernel fuses the multiply-add.
    if (result[i] != a * x[i] + y[i]) ++wrong;
  std::printf("saxpy of %u floats, a = %.1f: y[0] = %.1f, y[1] = %.1f, y[%u] = %.1f; %u of %u correct\n", n, a,
              result[0], result[1], n - 1, result[n - 1], n - wrong, n);
  reply.reset();  // give the ring space back before the kernel goes

  rk_metrics m = saxpy.metrics();
  std::printf("kernel processed %llu message(s), handler latency %llu ns\n",
              static_cast<unsigned long long>(m.processed), static_cast<unsigned long long>(m.latency_avg_ns));
  saxpy.terminate();
  return wrong == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "saxpy: %s\n", e.what());
  return 1;
}
