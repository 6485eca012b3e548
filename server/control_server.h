// The control plane: a Unix SOCK_SEQPACKET socket served by one thread with
// epoll. Accepts clients, checks their credentials, turns packets into
// Service requests, and wakes on kernel events (eventfd) and on SIGTERM /
// SIGINT (signalfd). No timer ticks: epoll sleeps until something happens or
// a deferred reply's deadline.
#pragma once
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/service.h"

namespace rk::server {

struct ControlOptions {
  std::string socket_path;
  std::optional<gid_t> allow_group;  // members may connect too (socket 0660)
  SessionLimits limits;
  size_t max_sessions = 1024;  // more are refused with RK_E_LIMIT
};

// Decodes one control packet of session `s` (control reader limits) and
// lets `service` handle it into `reply`; a packet that is not a Request
// gets a malformed error reply. Returns whether a reply is to be sent
// (`pass_fd`: a descriptor to send with it, or -1). The one decoding path
// of the daemon, shared with the control-request fuzz target.
bool answer_control_packet(Service& service, Session& s, kj::ArrayPtr<const capnp::word> packet,
                           capnp::MessageBuilder& reply, int& pass_fd);

class ControlServer {
 public:
  explicit ControlServer(ControlOptions options);
  ~ControlServer();

  // Creates the socket directory (0700, or 0710 with a group) and the
  // socket. Refuses to steal the socket of a running server.
  Errc listen(std::string& why);
  // Serves a socket that is already bound and listening (systemd socket
  // activation): AF_UNIX, SOCK_SEQPACKET. The socket file is not ours to
  // remove on exit.
  Errc adopt(int fd, std::string& why);
  // Serves until SIGTERM/SIGINT (blocked by the caller before any thread
  // starts) or stop(). Returns the process exit code.
  int run(Service& service);
  // Wakes run() and makes it return; callable from any thread.
  void stop();
  // Wakes run() to look at kernels (passed to backends as ControlWake).
  void wake();
  // Runs `hook` on the control thread after every wake-up, after the
  // Service's scan (the metrics exchange and the systemd watchdog).
  void on_wake(std::function<void()> hook) { wake_hooks_.push_back(std::move(hook)); }

 private:
  void accept_clients(Service& service);
  void serve_session(Service& service, uint64_t session_id);
  bool admitted(const ucred& peer) const;
  Errc start_loop(std::string& why);  // epoll over the listening socket, wake and signals

  ControlOptions options_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int signal_fd_ = -1;
  int reserve_fd_ = -1;  // spent to accept-and-refuse when descriptors run out
  bool stopping_ = false;
  bool created_socket_ = false;
  std::vector<std::function<void()>> wake_hooks_;
};

}  // namespace rk::server
