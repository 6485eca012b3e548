// reduce: sum a list of floats on a persistent kernel (ReduceSumRequest ->
// ReduceSumReply), several requests in flight at once, replies matched by
// correlation id.
#include <ringkernel/ringkernel.hpp>

#include <cstdio>
#include <exception>
#include <map>

#include "rk_schema/envelope.capnp.h"
#include "rk_schema/kernels.capnp.h"

using rk::schema::Envelope;
using rk::schema::ReduceSumReply;
using rk::schema::ReduceSumRequest;

int main(int argc, char** argv) try {
  rk::Client client(argc > 1 ? argv[1] : nullptr);
  rk::Kernel reduce = client.launch("reduce_sum");
  reduce.activate();

  // Request k sums 0.5 * (1 + 2 + ... + n_k): exact in float and in double.
  constexpr uint32_t kType = 2;
  constexpr uint32_t kRequests = 4;
  std::map<uint64_t, double> expected;  // correlation -> sum
  for (uint32_t r = 0; r < kRequests; ++r) {
    const uint32_t n = 1000u << r;
    const uint64_t correlation = reduce.send_typed<Envelope, ReduceSumRequest>(
        kType, n * sizeof(float) + 256, [&](ReduceSumRequest::Builder req) {
          auto values = req.initValues(n);
          for (uint32_t i = 0; i < n; ++i) values.set(i, 0.5f * float(i + 1));
        });
    expected[correlation] = 0.5 * double(n) * double(n + 1) / 2;
    std::printf("sent %5u values (correlation %llx)\n", n, static_cast<unsigned long long>(correlation));
  }

  int wrong = 0;
  for (uint32_t r = 0; r < kRequests; ++r) {
    rk::Message reply = reduce.receive();
    auto it = expected.find(reply.correlation());
    if (it == expected.end()) {
      std::fprintf(stderr, "reduce: reply with unknown correlation %llx\n",
                   static_cast<unsigned long long>(reply.correlation()));
      return 1;
    }
    auto reader = reply.reader<Envelope>();
    const double sum = reader.getRoot<Envelope>().getPayload().getAs<ReduceSumReply>().getSum();
    const bool ok = sum == it->second;
    wrong += !ok;
    std::printf("sum = %.1f (expected %.1f) %s\n", sum, it->second, ok ? "ok" : "WRONG");
    expected.erase(it);
  }
  reduce.terminate();
  std::printf("%u sums, %d wrong\n", kRequests, wrong);
  return wrong == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "reduce: %s\n", e.what());
  return 1;
}
