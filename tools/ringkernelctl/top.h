// `ringkernelctl top`: a refreshing table of the shared kernel instances
// with their message rates and latency, like top(1). --iterations makes it
// finite (scripts, tests); --json prints one JSON object per refresh, one
// per line.
#pragma once
#include <cstdint>

#include "tools/ringkernelctl/commands.h"

namespace rk::ctl {

struct TopArgs {
  uint32_t iterations = 0;      // refreshes before exiting; 0: until interrupted
  uint32_t interval_ms = 1000;  // between refreshes
};

void cmd_top(const Globals& g, const TopArgs& a);

}  // namespace rk::ctl
