#include "schema/wire.h"

#include <unistd.h>

#include <cstdlib>

#include "schema/packet_io.h"

namespace rk::wire {

std::string default_socket_path() {
  if (const char* s = std::getenv("RINGKERNEL_SOCKET"); s && *s) return s;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x) return std::string(x) + "/ringkernel/default.sock";
  return "/tmp/ringkernel-" + std::to_string(getuid()) + "/default.sock";
}

Errc send_message(int socket_fd, capnp::MessageBuilder& message, int pass_fd) {
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(message);
  auto bytes = flat.asBytes();
  if (bytes.size() > kMaxPacketBytes) return Errc::too_large;
  return send_packet(socket_fd, bytes.begin(), bytes.size(), pass_fd);
}

Packet::~Packet() {
  if (fd_ >= 0) close(fd_);
}

int Packet::take_fd() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

Errc Packet::receive(int socket_fd, int timeout_ms) {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  size_ = 0;
  size_t got = 0;
  bool truncated = false;
  int fds[2];
  Errc e = receive_packet(socket_fd, words_.data(), words_.size() * sizeof(capnp::word), got, truncated, fds,
                          timeout_ms);
  fd_ = fds[0];  // one descriptor per control message; a second is a peer's mistake
  if (fds[1] >= 0) close(fds[1]);
  if (e != Errc::ok) return e;
  if (truncated) return Errc::too_large;
  if (got % sizeof(capnp::word) != 0) return Errc::malformed;
  size_ = got;
  return Errc::ok;
}

capnp::ReaderOptions control_reader_options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = kMaxPacketBytes / sizeof(capnp::word) * 2;
  o.nestingLimit = 16;
  return o;
}

}  // namespace rk::wire
