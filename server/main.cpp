// ringkerneld: owns the GPUs (or plays their part on the CPU), serves the
// control socket, and keeps persistent kernels resident until told to stop.
#include <grp.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "schema/wire.h"
#include "server/backends.h"
#include "server/control_server.h"
#include "server/metrics_exchange.h"
#include "server/metrics_http.h"
#include "server/prometheus_format.h"
#include "server/service.h"

int main(int argc, char** argv) {
  CLI::App app{"ringkerneld — the RingKernel GPU actor service"};
  // A later flag overrides an earlier one (wrappers append to defaults).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::string socket_path = rk::wire::default_socket_path();
  std::string backend = "auto";
  std::string allow_group;
  std::string log_level = "info";
  uint64_t segment_mib = 64;
  int64_t terminate_timeout_ms = 5000;
  app.add_option("--socket", socket_path, "control socket path")->capture_default_str();
  app.add_option("--backend", backend, "auto (CUDA if a device is usable, else CPU), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--allow-group", allow_group, "let members of this group connect too (socket mode 0660)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.add_option("--session-segment-mib", segment_mib, "shared memory per session (sparse), MiB")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--terminate-timeout-ms", terminate_timeout_ms, "default wait for a kernel to exit")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str();
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464 (port 0: any free "
                 "port, logged at start); off by default");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("ringkerneld"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // Signals arrive through a signalfd in the control loop; block them
  // before any thread starts so none of those threads takes them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  rk::server::ControlOptions control;
  control.socket_path = socket_path;
  control.limits.segment_bytes = segment_mib << 20;
  if (!allow_group.empty()) {
    group* g = getgrnam(allow_group.c_str());
    if (!g) {
      spdlog::error("--allow-group: no group named '{}'", allow_group);
      return 2;
    }
    control.allow_group = g->gr_gid;
  }

  std::string why;
  std::optional<rk::server::ListenAddress> metrics_address;
  if (!metrics_listen.empty() && !(metrics_address = rk::server::parse_listen_address(metrics_listen, why))) {
    spdlog::error("--metrics-listen: {}", why);
    return 2;
  }
  // Backends first: a server that cannot serve what was asked for (e.g.
  // --backend cuda without a device) never opens its socket.
  rk::server::ControlServer server(control);
  auto wake = [&server] { server.wake(); };
  auto backends = rk::server::make_backends(backend, wake, why);
  if (backends.empty()) {
    spdlog::error("{}", why);
    return 2;
  }
  if (server.listen(why) != rk::Errc::ok) {
    spdlog::error("{}", why);
    return 1;
  }
  rk::server::ServiceOptions options;
  options.limits = control.limits;
  options.terminate_timeout_ms = terminate_timeout_ms;
  options.default_backend = rk::server::preferred_backend(backends);
  rk::server::Service service(options, std::move(backends), wake);
  spdlog::info("ringkerneld listening on {} (backend {})", socket_path, options.default_backend);

  // /metrics: the HTTP thread asks, the control loop answers when it next
  // runs (it never waits for the HTTP side).
  rk::server::MetricsExchange exchange(wake);
  server.on_wake([&] {
    if (uint64_t ticket = exchange.wanted()) exchange.provide(service.metrics_snapshot(), ticket);
  });
  std::unique_ptr<rk::server::MetricsHttp> metrics;
  if (metrics_address) {
    metrics = std::make_unique<rk::server::MetricsHttp>([&exchange]() -> std::optional<std::string> {
      auto snapshot = exchange.fetch(2000);
      if (!snapshot) return std::nullopt;
      return rk::server::render_prometheus(*snapshot);
    });
    if (metrics->start(*metrics_address, why) != rk::Errc::ok) {
      spdlog::error("{}", why);
      return 1;
    }
    spdlog::info("metrics at http://{}:{}/metrics", metrics_address->host, metrics->port());
  }
  return server.run(service);
}
