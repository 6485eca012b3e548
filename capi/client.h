// rk_client: one connection to ringkerneld (= one session). Owns the
// control socket, the mapped session segment, and a watcher thread that
// notices the server's death at once and aborts every wait.
#pragma once
#include <capnp/message.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rk_schema/control.capnp.h"
#include "schema/wire.h"
#include "shm/doorbell.h"
#include "shm/segment.h"
#include "ringkernel/ringkernel.h"

struct rk_kernel;

struct rk_client {
  int fd = -1;
  int watcher_wake = -1;  // eventfd: tells the watcher to quit
  std::string socket_path;
  uint64_t session_id = 0;
  rk::shm::Segment segment;
  rk::shm::WaitStop stop;  // set when the server is gone
  // How long a waiting thread spins before it parks, at least. Without
  // $RINGKERNEL_SPIN_NS (a fixed spin) it grows with the kernel's recent
  // reply times (reply_spin_ns() in kernel.cpp): a reply due in 40 µs is
  // worth spinning for, a futex wake would add tens of µs to it.
  uint64_t spin_ns = rk::shm::kDefaultSpinNs;
  bool spin_fixed = false;
  std::thread watcher;

  std::mutex control_mu;   // one control request at a time
  rk::wire::Packet packet; // guarded by control_mu

  std::mutex kernels_mu;
  std::vector<rk_kernel*> kernels;

  bool disconnected() const { return stop.stop.load(std::memory_order_acquire); }
};

namespace rk::capi {

// Timeout for control requests that do not carry their own.
inline constexpr int kControlTimeoutMs = 30000;

// Connects, says hello, maps the segment and starts the watcher.
rk_status connect_client(const char* socket_path, rk_client** out);
void disconnect_client(rk_client* client);

// Sends one request and waits for its reply. On RK_OK, `reply` reads from
// client->packet (valid while the caller holds `lock`), and `fd` is the
// descriptor that came with it (-1 if none; the caller owns it). A non-zero
// status in the reply becomes the return value, with the server's message.
class ControlCall {
 public:
  explicit ControlCall(rk_client* client) : client_(client), lock_(client->control_mu) {}
  rk::schema::Request::Builder request() { return message_.initRoot<rk::schema::Request>(); }
  rk_status send(int timeout_ms = kControlTimeoutMs);
  rk::schema::Reply::Reader reply() { return reader_->getRoot<rk::schema::Reply>(); }
  int take_fd() { return client_->packet.take_fd(); }

 private:
  rk_client* client_;
  std::unique_lock<std::mutex> lock_;
  capnp::MallocMessageBuilder message_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

}  // namespace rk::capi
