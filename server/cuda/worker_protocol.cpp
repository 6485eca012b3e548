#include "server/cuda/worker_protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace rk::server::gpu {

Errc send_worker_message(int socket_fd, const WorkerMessage& m, int fd0, int fd1) {
  iovec iov{const_cast<WorkerMessage*>(&m), sizeof m};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  const int fds[2] = {fd0, fd1};
  const int count = (fd0 >= 0) + (fd1 >= 0);
  if (count) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(count * sizeof(int));
    std::memcpy(CMSG_DATA(c), fd0 >= 0 ? fds : fds + 1, count * sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
    if (n == ssize_t(sizeof m)) return Errc::ok;
    if (n < 0 && errno == EINTR) continue;
    return Errc::disconnected;
  }
}

Errc receive_worker_message(int socket_fd, WorkerMessage& m, int fds[2], int timeout_ms) {
  fds[0] = fds[1] = -1;
  if (timeout_ms >= 0) {
    pollfd p{socket_fd, POLLIN, 0};
    int r;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) return Errc::timeout;
  }
  iovec iov{&m, sizeof m};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  int got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got < 2) fds[got++] = fd;
      else close(fd);
    }
  }
  if (n <= 0) return Errc::disconnected;
  if (n != ssize_t(sizeof m)) return Errc::malformed;
  return Errc::ok;
}

}  // namespace rk::server::gpu
