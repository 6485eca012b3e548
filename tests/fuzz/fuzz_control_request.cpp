// Fuzz target: the daemon's control-request decoding. Each chunk of the
// input is one packet as a client would send it on the control socket; it
// goes through a real SOCK_SEQPACKET socket into wire::Packet, is decoded
// with the control reader options and handled by a real Service (CPU
// backend, so launches start real worker threads) for one session, through
// the daemon's own answer_control_packet(). Whatever the bytes: no crash, no
// escaped exception, no leak, and every reply serialises.
#include <sys/socket.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "fuzz_input.h"
#include "schema/packet_io.h"
#include "schema/wire.h"
#include "server/backends.h"
#include "server/control_server.h"
#include "server/service.h"
#include "server/session.h"

namespace {

void die(const char* why) {
  fprintf(stderr, "fuzz_control_request: %s\n", why);
  abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the daemon's log would drown libFuzzer's
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rk;
  fuzz::Input in(data, size);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) die("socketpair");

  std::string why;
  auto backends = server::make_backends("cpu", server::BackendOptions{}, [] {}, why);
  if (backends.empty()) die("no cpu backend");
  server::ServiceOptions options;
  options.limits.segment_bytes = 8ull << 20;  // room for a few default channels
  options.limits.max_channels = 8;
  options.terminate_timeout_ms = 2000;
  {
    server::Service service(options, std::move(backends), [] {});
    ucred peer{getpid(), getuid(), getgid()};
    auto session = server::Session::create(service.allocate_session_id(), sv[1], peer, options.limits);
    if (!session) die("session");
    const uint64_t sid = (*session)->id();
    service.add_session(std::move(*session));  // owns sv[1] now

    static wire::Packet packet;
    for (int i = 0; i < 32 && !in.empty(); ++i) {
      auto bytes = in.chunk();
      if (wire::send_packet(sv[0], bytes.data(), bytes.size()) != Errc::ok) break;
      server::Session* s = service.session_by_id(sid);
      if (!s) break;
      if (packet.receive(s->fd(), 0) != Errc::ok) {  // unaligned, empty: the session ends
        service.close_session(sid);
        break;
      }
      capnp::MallocMessageBuilder reply;
      int pass_fd = -1;
      const bool answer = server::answer_control_packet(
          service, *s, kj::arrayPtr(packet.words().data(), packet.words().size()), reply, pass_fd);
      if (answer) {
        auto flat = capnp::messageToFlatArray(reply);  // what send_message would send
        if (flat.size() * sizeof(capnp::word) > wire::kMaxPacketBytes) die("reply larger than a packet");
      }
      service.scan();
      service.expire_deadlines();
    }
    service.close_session(sid);
  }
  close(sv[0]);
  return 0;
}
