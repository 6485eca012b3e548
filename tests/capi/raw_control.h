// Speaks the control protocol directly (rk::wire + the generated schema),
// for what libringkernel would never send: a foreign ABI version, a session
// that does not finish its handshake.
#pragma once
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <memory>
#include <string>

#include "rk_schema/control.capnp.h"
#include "schema/wire.h"

namespace rk::test {

class RawControl {
 public:
  explicit RawControl(const std::string& socket_path) {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, socket_path.c_str(), sizeof a.sun_path - 1);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawControl() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawControl(const RawControl&) = delete;
  RawControl& operator=(const RawControl&) = delete;

  bool connected() const { return fd_ >= 0; }
  int native_fd() const { return fd_; }

  // Sends `request` and reads one reply (bounded). Errc::ok and reply()
  // readable, or the transport's error.
  Errc exchange(capnp::MessageBuilder& request, int timeout_ms = 10000) {
    reader_.reset();
    if (Errc e = wire::send_message(fd_, request); e != Errc::ok) return e;
    if (Errc e = packet_.receive(fd_, timeout_ms); e != Errc::ok) return e;
    reader_ = std::make_unique<capnp::FlatArrayMessageReader>(
        kj::arrayPtr(packet_.words().data(), packet_.words().size()), wire::control_reader_options());
    return Errc::ok;
  }
  rk::schema::Reply::Reader reply() { return reader_->getRoot<rk::schema::Reply>(); }
  // The descriptor that came with the last reply (-1 if none); the caller owns it.
  int take_fd() { return packet_.take_fd(); }
  // Waits (bounded) for the server to hang up: true once it has.
  bool hung_up(int timeout_ms) {
    for (;;) {
      Errc e = packet_.receive(fd_, timeout_ms);
      if (e == Errc::disconnected) return true;
      if (e != Errc::ok) return false;  // timeout, or something else
    }
  }

  // hello with the given versions.
  Errc hello(uint32_t abi_version, uint32_t protocol_version = wire::kProtocolVersion) {
    capnp::MallocMessageBuilder m;
    auto h = m.initRoot<rk::schema::Request>().initHello();
    h.setAbiVersion(abi_version);
    h.setProtocolVersion(protocol_version);
    h.setClientName("rk_capi raw control test");
    return exchange(m);
  }

 private:
  int fd_ = -1;
  wire::Packet packet_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

}  // namespace rk::test
