// The private protocol between ringkerneld and its per-GPU worker process:
// fixed-size messages over a SOCK_SEQPACKET socketpair, with descriptors
// (control page, bell, session segments) passed by SCM_RIGHTS. Both ends
// are the same build, so the messages are plain structs.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "shm/errc.h"

namespace rk::server::gpu {

enum class WorkerOp : uint32_t {
  ready = 1,   // worker -> daemon, once: device usable (status ok) or not
  launch,      // fds: control page, bell
  bind,        // fds: session segment
  unbind,
  reply,       // worker -> daemon: answer to launch / bind / unbind
  exited,      // worker -> daemon: instance's kernel left its loop
};

struct WorkerMessage {
  WorkerOp op;
  uint32_t instance;
  uint16_t status;          // rk::Errc, in replies
  uint16_t transfer;        // launch: rk::server::Transfer as asked; reply: as chosen
  uint32_t builtin;         // launch: rk::builtin::Builtin, or kTrapKernel
  uint32_t grid, block;
  uint32_t state_bytes;
  uint64_t session;         // bind / unbind: channel key = session << 32 | slot
  uint32_t slot;
  uint32_t max_record;
  uint64_t request_offset;  // bind: ring memory offsets in the segment
  uint64_t reply_offset;
  uint64_t ring_bytes;      // bytes of each ring's memory
  uint64_t capacity;        // bind: each ring's buffer bytes
  char text[256];           // ready: device name; reply: error detail

  void set_text(const std::string& s) {
    std::strncpy(text, s.c_str(), sizeof text - 1);
    text[sizeof text - 1] = 0;
  }
};

inline constexpr uint32_t kTrapKernel = 0xffff;  // debug: a kernel that traps at once
inline constexpr uint32_t kHangKernel = 0xfffe;  // debug: a kernel that spins without a heartbeat

// Sends a message and up to two descriptors. Errc::disconnected if the
// peer is gone.
Errc send_worker_message(int socket_fd, const WorkerMessage& m, int fd0 = -1, int fd1 = -1);
// Receives one message; descriptors that came with it land in fds (-1 if
// none; the caller owns them). timeout_ms < 0: no limit.
Errc receive_worker_message(int socket_fd, WorkerMessage& m, int fds[2], int timeout_ms);

}  // namespace rk::server::gpu
