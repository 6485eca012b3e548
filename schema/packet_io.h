// One packet, with up to two file descriptors (SCM_RIGHTS), over a
// SOCK_SEQPACKET socket. Shared by the control socket (wire.h) and the
// daemon's private link to its GPU workers.
#pragma once
#include <cstddef>

#include "shm/errc.h"

namespace rk::wire {

// Sends `size` bytes as one packet, with fd0/fd1 when >= 0. Errc::ok, or
// Errc::disconnected when the peer is gone or does not drain its socket (we
// never buffer without bound for one peer), or Errc::internal. No SIGPIPE.
Errc send_packet(int socket_fd, const void* data, size_t size, int fd0 = -1, int fd1 = -1);

// Receives one packet into buf (cap bytes), waiting up to timeout_ms first
// (< 0: no limit). Descriptors that came with it land in fds[0..1] (-1 if
// none; the caller owns them; extras a peer sent are closed). Errc::ok with
// `got` bytes (`truncated` if it did not fit), Errc::timeout,
// Errc::empty (a non-blocking socket had nothing), Errc::disconnected (EOF
// or reset), Errc::internal.
Errc receive_packet(int socket_fd, void* buf, size_t cap, size_t& got, bool& truncated, int fds[2],
                    int timeout_ms);

}  // namespace rk::wire
