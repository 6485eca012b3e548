// rk_bench_host_jitter: how often, and for how long, a spinning thread on
// this host loses its CPU (timer ticks, interrupts, other work). Every
// latency figure here is a spinning client; a host that takes its core for
// 5 µs a thousand times a second puts about 1 % of 5 µs round trips over
// 10 µs whatever the code measured does. The GPU floor's p99 and ours both
// carry this, so the bench's tail figures are read beside it
// (docs/benchmarks.md).
//
//   rk_bench_host_jitter [seconds per CPU] [cpu ...]   (default: 1 s, CPUs 1 and the last)
//
// Per CPU: the thread pinned there reads CLOCK_MONOTONIC (vDSO, no system
// call) back to back; a step between two reads over 1 µs is a gap. Prints
// gaps per second, their lengths, the time between gaps, and the share of
// a 5 µs window that overlaps a gap (what a 5 µs round trip would meet).
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

uint64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1'000'000'000u + uint64_t(t.tv_nsec);
}

struct Gap {
  uint64_t at, ns;
};

double quantile(std::vector<uint64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return double(v[std::min(v.size() - 1, size_t(double(v.size()) * q))]);
}

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void measure(int cpu, double seconds) {
  if (!pin(cpu)) {
    std::printf("cpu %d: cannot pin there, skipped\n", cpu);
    return;
  }
  constexpr uint64_t kGapNs = 1000;
  std::vector<Gap> gaps;
  gaps.reserve(1 << 20);
  const uint64_t start = now_ns(), end = start + uint64_t(seconds * 1e9);
  uint64_t last = start, reads = 0;
  while (last < end) {
    const uint64_t t = now_ns();
    ++reads;
    if (t - last > kGapNs && gaps.size() < gaps.capacity()) gaps.push_back({last, t - last});
    last = t;
  }
  const double span = double(last - start) / 1e9;
  std::vector<uint64_t> lengths, between;
  uint64_t lost = 0;
  for (size_t i = 0; i < gaps.size(); ++i) {
    lengths.push_back(gaps[i].ns);
    lost += gaps[i].ns;
    if (i) between.push_back(gaps[i].at - gaps[i - 1].at);
  }
  // A window of w ns overlaps a gap of g ns when it starts within w + g
  // before the gap ends: the share of all windows that do.
  auto hit_share = [&](uint64_t window, uint64_t min_gap) {
    uint64_t covered = 0;
    for (const Gap& g : gaps)
      if (g.ns >= min_gap) covered += window + g.ns;
    return 100.0 * double(covered) / double(last - start);
  };
  size_t over5 = 0, over10 = 0;
  for (uint64_t l : lengths) over5 += l > 5000, over10 += l > 10000;
  std::printf("cpu %d: %.0f reads/s (%.0f ns a read); %.0f gaps/s over 1 us (%.0f/s over 5 us, %.0f/s over 10 us), "
              "%.3f %% of the time lost\n",
              cpu, double(reads) / span, 1e9 * span / double(reads), double(gaps.size()) / span,
              double(over5) / span, double(over10) / span, 100.0 * double(lost) / double(last - start));
  std::printf("  gap length us: p50 %.2f p90 %.2f p99 %.2f max %.2f; time between gaps us: p10 %.0f p50 %.0f p90 %.0f\n",
              quantile(lengths, 0.5) / 1e3, quantile(lengths, 0.9) / 1e3, quantile(lengths, 0.99) / 1e3,
              quantile(lengths, 1.0) / 1e3, quantile(between, 0.1) / 1e3, quantile(between, 0.5) / 1e3,
              quantile(between, 0.9) / 1e3);
  std::printf("  5 us windows that meet a gap: %.2f %% (a gap over 2 us: %.2f %%, over 5 us: %.2f %%)\n",
              hit_share(5000, kGapNs), hit_share(5000, 2000), hit_share(5000, 5000));
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  std::vector<int> cpus;
  for (int i = 2; i < argc; ++i) cpus.push_back(std::atoi(argv[i]));
  if (cpus.empty()) {
    const int n = int(std::thread::hardware_concurrency());
    cpus = {std::min(1, n - 1), n - 1};
    if (cpus[0] == cpus[1]) cpus.pop_back();
  }
  for (int cpu : cpus) measure(cpu, seconds);
  return 0;
}
