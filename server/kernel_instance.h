// A launched kernel: which kernel, who owns it, its lifecycle state, its
// bell, the executor running it and the channels bound to it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/sdk/handler.h"
#include "rk_schema/control.capnp.h"
#include "server/executor.h"
#include "shm/segment.h"
#include "shm/segment_layout.h"

namespace rk::server {

using KernelState = rk::schema::KernelState;

struct KernelInstance {
  uint32_t id = 0;
  const KernelDef* def = nullptr;
  std::string instance_name;   // empty: private to owner_session
  uint64_t owner_session = 0;  // session that launched it
  uid_t owner_uid = 0;         // who may control it
  KernelState state = KernelState::CREATED;
  std::string backend;         // "cpu" | "cuda"
  int32_t device = -1;
  uint64_t ring_bytes = 0;
  shm::Segment bell_segment;   // unlinked at once; passed to clients as a descriptor
  shm::KernelBell* bell = nullptr;
  std::unique_ptr<Executor> executor;
  std::vector<ChannelPtr> channels;  // bound channels, all sessions
  std::string fault;                 // why it faulted
  Telemetry final_telemetry;         // the figures at exit, once the executor is gone

  bool shared() const { return !instance_name.empty(); }
  bool finished() const {
    return state == KernelState::TERMINATED || state == KernelState::FAULTED;
  }
};

}  // namespace rk::server
