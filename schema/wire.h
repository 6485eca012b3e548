// The control protocol's transport: one framed Cap'n Proto message per
// SOCK_SEQPACKET packet, optionally carrying one file descriptor
// (SCM_RIGHTS). Shared by ringkerneld and libringkernel.
#pragma once
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shm/result.h"

namespace rk::wire {

// 2: CUDA reply rings may carry unordered tails (shm/tail_digest.h), which
// a client library of protocol 1 would read as a corrupt ring.
inline constexpr uint32_t kProtocolVersion = 2;
// Control messages are small; anything bigger is refused, not buffered.
inline constexpr size_t kMaxPacketBytes = 64 * 1024;

// $RINGKERNEL_SOCKET, else $XDG_RUNTIME_DIR/ringkernel/default.sock, else
// /tmp/ringkernel-<uid>/default.sock.
std::string default_socket_path();

// Sends one message (and `pass_fd` if >= 0). Errc::disconnected if the peer
// is gone; never raises SIGPIPE.
Errc send_message(int socket_fd, capnp::MessageBuilder& message, int pass_fd = -1);

// A received packet: word-aligned storage plus a descriptor, if one came.
class Packet {
 public:
  Packet() : words_(kMaxPacketBytes / sizeof(capnp::word) + 1) {}
  ~Packet();
  Packet(const Packet&) = delete;
  Packet& operator=(const Packet&) = delete;
  // Receives one packet; timeout_ms < 0 waits without limit (only for
  // callers that are woken by other means). Errc::disconnected on EOF,
  // Errc::timeout, Errc::too_large for a truncated packet, Errc::empty if
  // a non-blocking socket has nothing.
  Errc receive(int socket_fd, int timeout_ms);
  std::span<const capnp::word> words() const { return {words_.data(), size_ / sizeof(capnp::word)}; }
  size_t size() const { return size_; }
  // Takes ownership of the received descriptor (-1 if none).
  int take_fd();

 private:
  std::vector<capnp::word> words_;
  size_t size_ = 0;
  int fd_ = -1;
};

// Reader options for control messages: bounded by the packet size.
capnp::ReaderOptions control_reader_options();

}  // namespace rk::wire
