// Whether a lone caller's tail (the share of 64 B calls over 6 µs) belongs
// to the kernel instance or to the channel's memory. On the lent H100 some
// runs are "bad" from start to end (docs/cuda-status.md, next steps): this
// measures several kernel instances, each through channels of several
// sessions (a new segment each: new memory), each channel twice (the
// second time re-attached, onto the same ring area), one after another, and
// prints a line for each. If good and bad change from session to session
// of one instance but hold for a channel's two turns, the cause follows
// the rings' memory; if they follow the instance, the GPU.
//
//   rk_bench_channel_sweep SOCKET [--backend cuda] [--kernels 3]
//     [--sessions 4] [--calls 30000]
//
// Prints figures only; asserts nothing. Every kernel it launches it
// terminates before it exits.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ringkernel/ringkernel.h"

namespace {

struct Options {
  std::string socket, backend = "cuda";
  int kernels = 3, sessions = 4;
  long calls = 30000;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool check(rk_status st, const char* what) {
  if (st == RK_OK) return true;
  std::fprintf(stderr, "%s: %s (%s)\n", what, rk_status_string(st), rk_last_error_message());
  return false;
}

// Warm-up, then `calls` timed 64 B echo calls; one line of figures.
bool measure(rk_kernel* k, long calls, const char* label) {
  unsigned char payload[64];
  for (size_t i = 0; i < sizeof payload; ++i) payload[i] = static_cast<unsigned char>(i * 7);
  std::vector<int64_t> ns;
  ns.reserve(size_t(calls));
  for (long i = 0; i < 2000 + calls; ++i) {
    rk_message* m = nullptr;
    const int64_t t0 = now_ns();
    if (!check(rk_call(k, 1, payload, sizeof payload, &m, 10000), "rk_call")) return false;
    const int64_t t1 = now_ns();
    size_t len = 0;
    const void* data = rk_message_data(m, &len);
    const bool same = len == sizeof payload && std::memcmp(data, payload, len) == 0;
    rk_message_release(m);
    if (!same) {
      std::fprintf(stderr, "echo reply differs from the request\n");
      return false;
    }
    if (i >= 2000) ns.push_back(t1 - t0);
  }
  std::vector<int64_t> s = ns;
  std::sort(s.begin(), s.end());
  auto q = [&](double f) { return double(s[std::min(s.size() - 1, size_t(f * double(s.size())))]) / 1000; };
  auto over = [&](int64_t t) { return 100.0 * double(s.end() - std::upper_bound(s.begin(), s.end(), t)) / double(s.size()); };
  std::printf("%-34s p50 %5.2f p90 %5.2f p99 %6.2f us  >6us %5.2f %%  >8us %5.2f %%\n", label, q(.5), q(.9), q(.99),
              over(6000), over(8000));
  std::fflush(stdout);
  return true;
}

// One session's channel to the instance, measured twice: attached, then
// released and attached again. A freed ring area is reused once the kernel
// has let go of it (server/session.cpp), which the pause leaves time for:
// the second turn runs on the first one's memory.
bool measure_session(const Options& o, const std::string& name, int index, int session) {
  rk_client* c = nullptr;
  if (!check(rk_connect(o.socket.c_str(), &c), "rk_connect")) return false;
  bool ok = true;
  for (int round = 0; ok && round < 2; ++round) {
    rk_kernel* k = nullptr;
    ok = check(rk_attach(c, name.c_str(), &k), "rk_attach");
    if (ok) {
      const std::string label = "kernel " + std::to_string(index) + ", session " + std::to_string(session) +
                                (round ? ", again" : ", first");
      ok = measure(k, o.calls, label.c_str());
    }
    rk_kernel_release(k);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rk_disconnect(c);
  return ok;
}

bool sweep_instance(const Options& o, int index) {
  rk_client* owner = nullptr;
  if (!check(rk_connect(o.socket.c_str(), &owner), "rk_connect")) return false;
  const std::string name = "channel-sweep-" + std::to_string(index);
  rk_launch_options lo;
  rk_launch_options_init(&lo);
  lo.backend = o.backend == "cpu" ? RK_BACKEND_CPU : RK_BACKEND_CUDA;
  lo.instance_name = name.c_str();
  lo.grid = 1;
  rk_kernel* k = nullptr;
  bool ok = check(rk_launch(owner, "echo", &lo, &k), "rk_launch") && check(rk_activate(k), "rk_activate");
  for (int s = 1; ok && s <= o.sessions; ++s) ok = measure_session(o, name, index, s);
  if (k) ok = check(rk_terminate(k, 5000), "rk_terminate") && ok;
  rk_kernel_release(k);
  rk_disconnect(owner);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s SOCKET [--backend cuda|cpu] [--kernels N] [--sessions N] "
                 "[--calls N]\n",
                 argv[0]);
    return 2;
  }
  o.socket = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--backend") o.backend = v;
    else if (flag == "--kernels") o.kernels = std::atoi(v);
    else if (flag == "--sessions") o.sessions = std::atoi(v);
    else if (flag == "--calls") o.calls = std::atol(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  for (int k = 0; k < o.kernels; ++k)
    if (!sweep_instance(o, k)) return 1;
  return 0;
}
