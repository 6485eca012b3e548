#include "schema/wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
  iovec iov{const_cast<kj::byte*>(bytes.begin()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
    if (n == ssize_t(bytes.size())) return Errc::ok;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)) return Errc::disconnected;
    // A peer that does not drain its socket is treated as gone: the server
    // never buffers without bound for one client.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Errc::disconnected;
    return Errc::internal;
  }
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
  if (timeout_ms >= 0) {
    pollfd p{socket_fd, POLLIN, 0};
    int r;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) return Errc::timeout;
    if (r < 0) return Errc::internal;
  }
  iovec iov{words_.data(), words_.size() * sizeof(capnp::word)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Errc::empty;
  if (n < 0 && errno == ECONNRESET) return Errc::disconnected;
  if (n < 0) return Errc::internal;
  // Adopt the first descriptor; close any extra a hostile peer sent.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fd_ < 0) fd_ = fd;
      else close(fd);
    }
  }
  if (n == 0) return Errc::disconnected;
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return Errc::too_large;
  if (n % sizeof(capnp::word) != 0) return Errc::malformed;
  size_ = size_t(n);
  return Errc::ok;
}

capnp::ReaderOptions control_reader_options() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = kMaxPacketBytes / sizeof(capnp::word) * 2;
  o.nestingLimit = 16;
  return o;
}

}  // namespace rk::wire
