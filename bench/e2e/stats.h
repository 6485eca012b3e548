// Summaries of measured samples: percentiles, a compact quantile list (enough
// to draw a CDF without shipping every sample), and Jain's fairness index.
#pragma once
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace rk::bench {

struct Summary {
  uint64_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
  std::vector<std::pair<double, double>> quantiles;  // (q in [0,1], ns), rising
};

// Nearest-rank quantile of sorted samples.
inline double quantile(const std::vector<uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, size_t(q * double(sorted.size() - 1) + 0.5));
  return double(sorted[i]);
}

// Sorts `ns` in place.
inline Summary summarize(std::vector<uint64_t>& ns) {
  Summary s;
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  s.n = ns.size();
  s.p50 = quantile(ns, 0.5);
  s.p90 = quantile(ns, 0.9);
  s.p99 = quantile(ns, 0.99);
  s.p999 = quantile(ns, 0.999);
  s.max = double(ns.back());
  s.mean = std::accumulate(ns.begin(), ns.end(), 0.0) / double(ns.size());
  // Dense in the body, denser in the tail, where a CDF on a log axis needs it.
  static constexpr double kQ[] = {0,    0.001, 0.01, 0.02, 0.05, 0.1,   0.15,  0.2,    0.25,  0.3, 0.35,
                                  0.4,  0.45,  0.5,  0.55, 0.6,  0.65,  0.7,   0.75,   0.8,   0.85, 0.9,
                                  0.93, 0.95,  0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 1};
  for (double q : kQ) s.quantiles.emplace_back(q, quantile(ns, q));
  return s;
}

// (sum x)^2 / (n * sum x^2): 1 when every client got the same rate, 1/n when
// one client got everything.
inline double jain_index(const std::vector<double>& x) {
  double sum = 0, sq = 0;
  for (double v : x) {
    sum += v;
    sq += v * v;
  }
  return sq == 0 ? 0 : sum * sum / (double(x.size()) * sq);
}

}  // namespace rk::bench
