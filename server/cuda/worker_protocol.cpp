#include "server/cuda/worker_protocol.h"

#include <unistd.h>

#include "schema/packet_io.h"

namespace rk::server::gpu {

Errc send_worker_message(int socket_fd, const WorkerMessage& m, int fd0, int fd1) {
  return wire::send_packet(socket_fd, &m, sizeof m, fd0, fd1) == Errc::ok ? Errc::ok : Errc::disconnected;
}

Errc receive_worker_message(int socket_fd, WorkerMessage& m, int fds[2], int timeout_ms) {
  size_t got = 0;
  bool truncated = false;
  Errc e = wire::receive_packet(socket_fd, &m, sizeof m, got, truncated, fds, timeout_ms);
  if (e == Errc::timeout) return e;
  if (e != Errc::ok) return Errc::disconnected;
  if (truncated || got != sizeof m) return Errc::malformed;
  return Errc::ok;
}

}  // namespace rk::server::gpu
