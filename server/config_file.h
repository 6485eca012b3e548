// ringkerneld's configuration file (TOML, parsed with Debian's toml++):
// defaults for the daemon's options, limits, and the kernels to launch at
// start as named shared instances. Every key is optional; unknown keys,
// wrong types and values out of range are errors that name the file, line
// and column. Command-line flags override the file (main.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rk::server {

// Where ringkerneld looks when --config is not given (read only if present).
inline constexpr const char* kDefaultConfigPath = "/etc/ringkernel/ringkerneld.toml";

// A [[kernel]] entry: launched at start under `name`, shared, so clients
// attach to it without launching.
struct StartupKernel {
  std::string name;            // instance name clients attach to
  std::string kernel;          // registered kernel, e.g. "echo"
  std::string backend = "auto";
  int32_t device = -1;
  uint64_t ring_bytes = 0;     // 0: the daemon's default
  std::string transfer = "auto";  // auto, mapped or staged; only CUDA heeds it
  uint32_t grid = 0, block = 0;
  bool active = true;          // activate right after launch
  std::string where;           // "file:line:col" of the entry, for messages
};

struct DaemonConfig {
  // [server]
  std::optional<std::string> socket, backend, allow_group, log_level, metrics_listen;
  std::optional<int64_t> terminate_timeout_ms;
  // [rings]
  std::optional<uint64_t> default_ring_bytes;
  // [limits]
  std::optional<uint64_t> max_sessions, segment_bytes, kernels_per_session;
  // [[kernel]]
  std::vector<StartupKernel> kernels;
};

// A file that cannot be used: what() is "<file>:<line>:<column>: <why>".
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses `text`; `source` names it in messages. Throws ConfigError.
DaemonConfig parse_config(std::string_view text, const std::string& source);
// Reads and parses a file. Throws ConfigError (also when unreadable).
DaemonConfig load_config(const std::string& path);

}  // namespace rk::server
