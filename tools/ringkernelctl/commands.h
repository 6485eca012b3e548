// ringkernelctl's subcommands. Each prints its result (text, or JSON with
// --json) and returns normally, or throws Failure.
#pragma once
#include <ringkernel/ringkernel.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tools/ringkernelctl/report.h"

namespace rk::ctl {

struct Globals {
  std::string socket;       // empty: $RINGKERNEL_SOCKET or the default socket
  bool json = false;        // machine-readable output on stdout
  int64_t timeout_ms = -1;  // per blocking call; negative: the library's defaults
};

struct LaunchArgs {
  std::string kernel;
  std::string name;
  std::string backend = "auto";
  std::string transfer = "auto";  // auto, mapped or staged (CUDA only)
  uint64_t ring_bytes = 0;
  uint32_t grid = 0, block = 0;
  int32_t device = -1;
  bool activate = false;
};

struct CallArgs {
  std::string kernel;
  std::vector<std::string> words;  // joined with spaces: the text to send
  std::string attach;              // empty: launch a private instance
  std::string backend = "auto";
  std::string transfer = "auto";
  uint32_t count = 1;
};

void cmd_info(const Globals& g);
void cmd_list(const Globals& g);
void cmd_status(const Globals& g, const std::string& name);
void cmd_metrics(const Globals& g, const std::vector<std::string>& names);
void cmd_launch(const Globals& g, const LaunchArgs& a);
// verb: "activate", "deactivate" or "terminate".
void cmd_lifecycle(const Globals& g, const std::string& verb, const std::string& name);
void cmd_call(const Globals& g, const CallArgs& a);

// Prints a failure the way the chosen output asks (stderr always; with
// --json also a JSON object on stdout).
void print_failure(const Globals& g, const Failure& f);

}  // namespace rk::ctl
