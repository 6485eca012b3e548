#include "schema/packet_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

namespace rk::wire {

Errc send_packet(int socket_fd, const void* data, size_t size, int fd0, int fd1) {
  iovec iov{const_cast<void*>(data), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  int fds[2];
  int count = 0;
  for (int fd : {fd0, fd1})
    if (fd >= 0) fds[count++] = fd;
  if (count) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(count * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, count * sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
    if (n == ssize_t(size)) return Errc::ok;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN || errno == EAGAIN ||
                  errno == EWOULDBLOCK))
      return Errc::disconnected;
    return Errc::internal;
  }
}

Errc receive_packet(int socket_fd, void* buf, size_t cap, size_t& got, bool& truncated, int fds[2],
                    int timeout_ms) {
  fds[0] = fds[1] = -1;
  got = 0;
  truncated = false;
  if (timeout_ms >= 0) {
    pollfd p{socket_fd, POLLIN, 0};
    int r;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) return Errc::timeout;
    if (r < 0) return Errc::internal;
  }
  iovec iov{buf, cap};
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
  int kept = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (kept < 2) fds[kept++] = fd;
      else close(fd);
    }
  }
  if (n == 0) return Errc::disconnected;
  truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  got = size_t(n);
  return Errc::ok;
}

}  // namespace rk::wire
