#include "server/metrics_exchange.h"

#include <chrono>

namespace rk::server {

std::optional<MetricsSnapshot> MetricsExchange::fetch(int timeout_ms) {
  uint64_t ticket;
  {
    std::lock_guard lock(mu_);
    ticket = ++asked_;
  }
  wake_();
  std::unique_lock lock(mu_);
  // A snapshot taken after our request covers it.
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return answered_ >= ticket; }))
    return std::nullopt;
  return latest_;
}

uint64_t MetricsExchange::wanted() const {
  std::lock_guard lock(mu_);
  return asked_ > answered_ ? asked_ : 0;
}

void MetricsExchange::provide(MetricsSnapshot snapshot, uint64_t ticket) {
  {
    std::lock_guard lock(mu_);
    if (ticket <= answered_) return;
    latest_ = std::move(snapshot);
    answered_ = ticket;
  }
  cv_.notify_all();
}

}  // namespace rk::server
