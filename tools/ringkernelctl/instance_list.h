// The kernel instances a new session can see (every shared instance; a new
// session owns no private one). The C ABI has no call for this, so it is
// the one request ringkernelctl sends itself: a session of its own on the
// control socket (hello, segmentMapped, list), closed on return.
#pragma once
#include <ringkernel/ringkernel.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rk::ctl {

struct InstanceRow {
  uint32_t id = 0;
  std::string kernel;         // registered kernel, e.g. "echo"
  std::string instance_name;  // empty: private
  rk_state state = RK_STATE_CREATED;
  rk_backend backend = RK_BACKEND_AUTO;
  int32_t device = -1;
  uint32_t channels = 0;
  uint64_t processed = 0;
  uint64_t owner_session = 0;  // 0 for shared instances
};

// socket_path empty: the default the library uses. timeout_ms bounds each
// exchange. Throws Failure with an rk_status on any error.
std::vector<InstanceRow> list_instances(const std::string& socket_path, int timeout_ms);

}  // namespace rk::ctl
