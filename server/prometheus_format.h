// Renders a MetricsSnapshot in the Prometheus text exposition format
// (version 0.0.4): HELP and TYPE for every family, label values escaped,
// histograms cumulative with a +Inf bucket equal to their count.
#pragma once
#include <string>

#include "server/metrics_snapshot.h"

namespace rk::server {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string render_prometheus(const MetricsSnapshot& snapshot);

// A label value with \, " and newline escaped as the format asks.
std::string escape_label_value(const std::string& value);

}  // namespace rk::server
