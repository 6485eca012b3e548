#include "server/metrics_http.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>

#include "server/prometheus_format.h"

namespace rk::server {

std::optional<ListenAddress> parse_listen_address(const std::string& text, std::string& why) {
  ListenAddress a;
  std::string port;
  if (!text.empty() && text.front() == '[') {  // [v6]:port
    const auto close = text.find("]:");
    if (close == std::string::npos) {
      why = "'" + text + "': expected [IPv6 address]:PORT";
      return std::nullopt;
    }
    a.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || text.find(':') != colon) {
      why = "'" + text + "': expected HOST:PORT, e.g. 127.0.0.1:9464 (IPv6 in brackets)";
      return std::nullopt;
    }
    a.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int value = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (a.host.empty() || port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 0 ||
      value > 65535) {
    why = "'" + text + "': the port must be a number in 0..65535 and the host must not be empty";
    return std::nullopt;
  }
  a.port = value;
  return a;
}

MetricsHttp::MetricsHttp(Render render) : render_(std::move(render)) {}

MetricsHttp::~MetricsHttp() { stop(); }

Errc MetricsHttp::start(const ListenAddress& address, std::string& why) {
  http_ = std::make_unique<httplib::Server>();
  // Scrapes are rare and small: two handler threads are plenty.
  http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  http_->set_read_timeout(5, 0);
  http_->set_write_timeout(5, 0);
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (auto text = render_()) {
      res.set_content(std::move(*text), kPrometheusContentType);
    } else {
      res.status = 503;
      res.set_content("ringkerneld's control loop did not answer in time\n", "text/plain");
    }
  });
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ringkerneld: metrics at /metrics\n", "text/plain");
  });
  if (address.port == 0) {
    port_ = http_->bind_to_any_port(address.host);
  } else {
    port_ = http_->bind_to_port(address.host, address.port) ? address.port : -1;
  }
  if (port_ <= 0) {
    why = "--metrics-listen: cannot listen on " + address.host + ":" + std::to_string(address.port) +
          " (address in use, or not an address of this host)";
    http_.reset();
    return Errc::state;
  }
  thread_ = std::thread([this] {
    http_->listen_after_bind();
    finished_.store(true, std::memory_order_release);
  });
  return Errc::ok;
}

void MetricsHttp::stop() {
  if (!thread_.joinable()) return;
  // stop() does nothing until the server thread has entered its accept
  // loop; repeat it until that thread has left.
  while (!finished_.load(std::memory_order_acquire)) {
    http_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
}

}  // namespace rk::server
