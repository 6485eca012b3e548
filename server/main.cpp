// ringkerneld: owns the GPUs (or plays their part on the CPU), serves the
// control socket, and keeps persistent kernels resident until told to stop.
//
// Settings come from, in order of precedence: command-line flags, the
// configuration file (--config, else /etc/ringkernel/ringkerneld.toml if it
// exists), built-in defaults. See docs/operations.md.
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "schema/wire.h"
#include "server/backends.h"
#include "server/config_file.h"
#include "server/control_server.h"
#include "server/metrics_exchange.h"
#include "server/metrics_http.h"
#include "server/prometheus_format.h"
#include "server/service.h"
#include "server/systemd_notify.h"

namespace {

// The flag if given, else the file's value, else the default.
template <class T, class U>
T pick(const std::optional<T>& flag, const std::optional<U>& file, T fallback) {
  if (flag) return *flag;
  if (file) return T(*file);
  return fallback;
}

std::string bound_path(int fd) {
  sockaddr_un a{};
  socklen_t len = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.sun_path[0] == '\0') return "(unnamed)";
  return a.sun_path;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringkerneld — the RingKernel GPU actor service"};
  app.footer(
      "Settings: flags override the configuration file, which overrides the defaults shown.\n"
      "Under systemd: Type=notify (READY=1, WATCHDOG=1 when WatchdogSec= is set) and socket\n"
      "activation (a .socket unit with ListenSequentialPacket=) are supported.\n"
      "Exit status: 0 after SIGTERM/SIGINT, 1 on a run-time failure, 2 on bad usage or configuration.\n"
      "See ringkerneld(8) and docs/operations.md.");
  // A later flag overrides an earlier one (wrappers append to defaults).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::optional<std::string> config_path, socket_path, backend, allow_group, log_level, metrics_listen;
  std::optional<uint64_t> segment_mib, max_sessions, kernels_per_session, ring_bytes;
  std::optional<int64_t> terminate_timeout_ms;
  uint64_t gpu_hang_ms = 5000;
  bool check_config = false;
  app.add_option("--config", config_path,
                 std::string("configuration file (TOML); default: ") + rk::server::kDefaultConfigPath +
                     " when it exists");
  app.add_flag("--check-config", check_config, "parse the configuration, print what is in effect, and exit");
  app.add_option("--socket", socket_path,
                 "control socket path [default: " + rk::wire::default_socket_path() + "; ignored under socket activation]");
  app.add_option("--backend", backend, "auto (CUDA if a device is usable, else CPU), cpu or cuda [default: auto]")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--allow-group", allow_group, "let members of this group connect too (socket mode 0660)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off [default: info]")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--session-segment-mib", segment_mib, "shared memory per session (sparse), MiB [default: 64]")
      ->check(CLI::Range(1, 4096));
  app.add_option("--max-sessions", max_sessions, "sessions served at once; more are refused [default: 1024]")
      ->check(CLI::Range(1, 65536));
  app.add_option("--kernels-per-session", kernels_per_session,
                 "kernel instances one session may be bound to (channels) [default: 64]")
      ->check(CLI::Range(1, 4096));
  app.add_option("--ring-bytes", ring_bytes,
                 "bytes per ring direction when a launch does not say, a power of two in [4096, 64 MiB] "
                 "[default: 1048576]")
      ->check(CLI::Range(uint64_t{4096}, uint64_t{64} << 20));
  app.add_option("--terminate-timeout-ms", terminate_timeout_ms, "default wait for a kernel to exit [default: 5000]")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}));
  app.add_option("--gpu-hang-ms", gpu_hang_ms,
                 "a GPU kernel whose heartbeat stands still this long is hung: its worker is killed, its GPU's "
                 "kernels turn FAULTED and the next launch starts a fresh worker (0: never) [default: 5000]")
      ->check(CLI::Range(uint64_t{0}, uint64_t{3600000}));
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464 (port 0: any free "
                 "port, logged at start) [default: off]");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("ringkerneld"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  // ---- configuration file, then flags over it ----------------------------
  rk::server::DaemonConfig file;
  const std::string config = config_path.value_or(rk::server::kDefaultConfigPath);
  if (config_path || std::filesystem::exists(config)) {
    try {
      file = rk::server::load_config(config);
    } catch (const rk::server::ConfigError& e) {
      spdlog::error("configuration: {}", e.what());
      return 2;
    }
  }
  const std::string socket = pick(socket_path, file.socket, rk::wire::default_socket_path());
  const std::string backend_choice = pick(backend, file.backend, std::string("auto"));
  const std::string group = pick(allow_group, file.allow_group, std::string());
  const std::string level = pick(log_level, file.log_level, std::string("info"));
  const std::string metrics_at = pick(metrics_listen, file.metrics_listen, std::string());
  const int64_t terminate_ms = pick(terminate_timeout_ms, file.terminate_timeout_ms, int64_t{5000});
  const uint64_t default_ring = pick(ring_bytes, file.default_ring_bytes, uint64_t{0});
  if (default_ring && (default_ring & (default_ring - 1))) {
    spdlog::error("--ring-bytes must be a power of two (got {})", default_ring);
    return 2;
  }
  rk::server::ControlOptions control;
  control.limits.segment_bytes =
      segment_mib ? *segment_mib << 20 : file.segment_bytes.value_or(control.limits.segment_bytes);
  control.limits.max_channels =
      uint32_t(pick(kernels_per_session, file.kernels_per_session, uint64_t{control.limits.max_channels}));
  control.max_sessions = size_t(pick(max_sessions, file.max_sessions, uint64_t{control.max_sessions}));
  control.socket_path = socket;
  spdlog::set_level(spdlog::level::from_str(level));

  std::string why;
  std::optional<rk::server::ListenAddress> metrics_address;
  if (!metrics_at.empty() && !(metrics_address = rk::server::parse_listen_address(metrics_at, why))) {
    spdlog::error("--metrics-listen: {}", why);
    return 2;
  }
  if (!group.empty()) {
    ::group* g = getgrnam(group.c_str());
    if (!g) {
      spdlog::error("--allow-group: no group named '{}'", group);
      return 2;
    }
    control.allow_group = g->gr_gid;
  }
  if (check_config) {
    std::cout << "configuration " << ((config_path || std::filesystem::exists(config)) ? config : "(none)")
              << ": ok\n"
              << "socket " << socket << "\nbackend " << backend_choice << "\nlog_level " << level
              << "\nmetrics_listen " << (metrics_at.empty() ? "off" : metrics_at) << "\nring_bytes "
              << (default_ring ? default_ring : 1u << 20) << "\nsessions " << control.max_sessions
              << "\nsegment_bytes " << control.limits.segment_bytes << "\nkernels_per_session "
              << control.limits.max_channels << "\nterminate_timeout_ms " << terminate_ms << "\n";
    for (const auto& k : file.kernels)
      std::cout << "kernel " << k.name << " = " << k.kernel << " (" << k.backend
                << (k.transfer != "auto" ? ", transfer " + k.transfer : "") << (k.active ? ", active" : "") << ")\n";
    return 0;
  }

  // Signals arrive through a signalfd in the control loop; block them
  // before any thread starts so none of those threads takes them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Backends first: a server that cannot serve what was asked for (e.g.
  // --backend cuda without a device) never opens its socket.
  const int activated_fd = rk::server::systemd_listen_fd(why);
  if (activated_fd == -2) {
    spdlog::error("{}", why);
    return 2;
  }
  rk::server::ControlServer server(control);
  auto wake = [&server] { server.wake(); };
  rk::server::BackendOptions backend_options;
  backend_options.gpu_hang_ms = gpu_hang_ms;
  auto backends = rk::server::make_backends(backend_choice, backend_options, wake, why);
  if (backends.empty()) {
    spdlog::error("{}", why);
    return 2;
  }
  const rk::Errc opened = activated_fd >= 0 ? server.adopt(activated_fd, why) : server.listen(why);
  if (opened != rk::Errc::ok) {
    spdlog::error("{}", why);
    return 1;
  }
  const std::string serving = activated_fd >= 0 ? bound_path(activated_fd) + " (from systemd)" : socket;
  rk::server::ServiceOptions options;
  options.limits = control.limits;
  options.terminate_timeout_ms = terminate_ms;
  options.default_ring_bytes = default_ring;
  options.default_backend = rk::server::preferred_backend(backends);
  rk::server::Service service(options, std::move(backends), wake);

  // Kernels of the configuration file: shared instances clients attach to.
  for (const auto& k : file.kernels) {
    rk::server::InstanceRequest r;
    r.kernel = k.kernel;
    r.name = k.name;
    r.backend = k.backend;
    r.device = k.device;
    r.ring_bytes = k.ring_bytes;
    // parse_config admitted only these three names.
    r.transfer = k.transfer == "mapped"   ? rk::server::Transfer::mapped
                 : k.transfer == "staged" ? rk::server::Transfer::staged
                                          : rk::server::Transfer::automatic;
    r.grid = k.grid;
    r.block = k.block;
    if (service.launch_shared(r, k.active, why) != rk::Errc::ok) {
      spdlog::error("{}: kernel '{}': {}", k.where, k.name, why);
      return 1;
    }
  }

  // /metrics: the HTTP thread asks, the control loop answers when it next
  // runs (it never waits for the HTTP side).
  rk::server::MetricsExchange exchange(wake);
  rk::server::Watchdog watchdog(wake);
  server.on_wake([&] {
    if (uint64_t ticket = exchange.wanted()) exchange.provide(service.metrics_snapshot(), ticket);
    watchdog.ping_if_due();
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
    const bool v6 = metrics_address->host.find(':') != std::string::npos;
    spdlog::info("metrics at http://{}{}{}:{}/metrics", v6 ? "[" : "", metrics_address->host, v6 ? "]" : "",
                 metrics->port());
  }
  spdlog::info("ringkerneld listening on {} (backend {})", serving, options.default_backend);
  if (watchdog.enabled()) spdlog::info("systemd watchdog: every {} ms", watchdog.interval_us() / 2000);
  rk::server::notify_ready("serving " + serving);
  const int rc = server.run(service);
  rk::server::notify_stopping();
  return rc;
}
