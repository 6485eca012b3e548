// The Prometheus endpoint: an HTTP server (cpp-httplib) on its own threads
// that answers GET /metrics with whatever `render` returns. It never touches
// the Service: `render` fetches a snapshot through the MetricsExchange.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "shm/result.h"

namespace httplib {
class Server;
}

namespace rk::server {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", a name
  int port = 0;      // 0: any free port (the bound one is reported)
};

// "127.0.0.1:9464", "[::1]:9464", "localhost:0". nullopt (and `why`) when
// malformed.
std::optional<ListenAddress> parse_listen_address(const std::string& text, std::string& why);

class MetricsHttp {
 public:
  // The exposition text, or nullopt when no fresh figures could be had
  // (answered 503).
  using Render = std::function<std::optional<std::string>()>;

  explicit MetricsHttp(Render render);
  ~MetricsHttp();  // stops and joins
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Binds at once (so a taken port fails start-up with a clear message) and
  // serves from a thread of its own.
  Errc start(const ListenAddress& address, std::string& why);
  // The bound port (after start).
  int port() const { return port_; }
  void stop();

 private:
  Render render_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> finished_{false};  // the server thread has returned
  int port_ = 0;
};

}  // namespace rk::server
