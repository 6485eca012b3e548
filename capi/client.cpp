#include "capi/client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "capi/errors.h"
#include "capi/kernel.h"

namespace rk::capi {

rk_status ControlCall::send(int timeout_ms) {
  if (client_->disconnected()) return fail(RK_E_DISCONNECTED, "ringkerneld has gone away");
  // A server that refuses a peer (credentials, no memory for a session) says
  // why and hangs up, possibly before our request arrives: when the send
  // fails, still read what it left us. And since it closes with our request
  // unread, the first receive may report the reset ahead of its last packet.
  const bool sent = wire::send_message(client_->fd, message_) == Errc::ok;
  Errc e = client_->packet.receive(client_->fd, sent ? timeout_ms : 0);
  if (e == Errc::disconnected) e = client_->packet.receive(client_->fd, 0);
  if (e == Errc::timeout && sent)
    return fail(RK_E_TIMEOUT, "ringkerneld did not answer within " + std::to_string(timeout_ms) + " ms");
  if (e != Errc::ok) return fail(RK_E_DISCONNECTED, "ringkerneld closed the connection");
  try {
    auto words = client_->packet.words();
    reader_ = std::make_unique<capnp::FlatArrayMessageReader>(kj::arrayPtr(words.data(), words.size()),
                                                              wire::control_reader_options());
    auto r = reply();
    if (r.getStatus() != 0) return fail(status_from_wire(r.getStatus()), r.getMessage().cStr());
    if (!sent) return fail(RK_E_DISCONNECTED, "ringkerneld closed the connection");
  } catch (const kj::Exception& ex) {
    return fail(RK_E_MALFORMED, std::string("malformed reply from ringkerneld: ") + ex.getDescription().cStr());
  }
  return ok();
}

namespace {

// Waits for the server's hang-up (or our own quit signal), then aborts
// every wait of this client: no blocked call depends on its timeout to
// learn that the server died.
void watch(rk_client* c) {
  pollfd fds[2] = {{c->fd, POLLRDHUP, 0}, {c->watcher_wake, POLLIN, 0}};
  for (;;) {
    int r = poll(fds, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (fds[1].revents) return;  // disconnect_client() asked us to go
    if (fds[0].revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) break;
  }
  c->stop.stop.store(true, std::memory_order_release);
  std::lock_guard lock(c->kernels_mu);
  for (rk_kernel* k : c->kernels) wake_all_waiters(k);
}

}  // namespace

rk_status connect_client(const char* socket_path, rk_client** out) {
  if (!out) return fail(RK_E_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  auto c = std::make_unique<rk_client>();
  if (const char* spin = std::getenv("RINGKERNEL_SPIN_NS"); spin && *spin)
  {
    c->spin_ns = std::min<uint64_t>(std::strtoull(spin, nullptr, 10), 10'000'000'000ull);
    c->spin_fixed = true;
  }
  c->socket_path = socket_path && *socket_path ? socket_path : wire::default_socket_path();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (c->socket_path.size() >= sizeof a.sun_path) return fail(RK_E_INVALID_ARGUMENT, "socket path too long");
  std::strncpy(a.sun_path, c->socket_path.c_str(), sizeof a.sun_path - 1);
  c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return fail(RK_E_INTERNAL, std::string("socket: ") + std::strerror(errno));
  if (connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    close(c->fd);
    if (err == EACCES || err == EPERM)
      return fail(RK_E_PERMISSION, "no permission to connect to " + c->socket_path);
    return fail(RK_E_NOT_FOUND, "no ringkerneld at " + c->socket_path + ": " + std::strerror(err));
  }
  auto cleanup = [&] { close(c->fd); };
  {
    ControlCall call(c.get());
    auto hello = call.request().initHello();
    hello.setAbiVersion(RK_ABI_VERSION);
    hello.setProtocolVersion(wire::kProtocolVersion);
    hello.setClientName("libringkernel pid " + std::to_string(getpid()));
    if (rk_status s = call.send(); s != RK_OK) return cleanup(), s;
    auto w = call.reply().getWelcome();
    c->session_id = w.getSessionId();
    // The segment comes as a descriptor (works whoever owns the file); its
    // name is the fallback for servers that send none.
    const int seg_fd = call.take_fd();
    auto seg = seg_fd >= 0 ? shm::Segment::from_fd(seg_fd) : shm::Segment::open(w.getSegmentName());
    if (!seg) return cleanup(), fail(seg.error(), "cannot map the session segment");
    c->segment = std::move(*seg);
  }
  {
    // The server unlinks the name now: nothing is left in /dev/shm whoever dies.
    ControlCall call(c.get());
    call.request().setSegmentMapped();
    if (rk_status s = call.send(); s != RK_OK) return cleanup(), s;
    (void)c->segment.unlink();
  }
  c->watcher_wake = eventfd(0, EFD_CLOEXEC);
  c->watcher = std::thread(watch, c.get());
  *out = c.release();
  return ok();
}

void disconnect_client(rk_client* c) {
  if (!c) return;
  std::vector<rk_kernel*> left;
  {
    std::lock_guard lock(c->kernels_mu);
    left = c->kernels;
  }
  for (rk_kernel* k : left) release_kernel(k);
  uint64_t one = 1;
  ssize_t n = write(c->watcher_wake, &one, sizeof one);
  (void)n;
  if (c->watcher.joinable()) c->watcher.join();
  close(c->watcher_wake);
  close(c->fd);  // the server reclaims the session
  delete c;
}

}  // namespace rk::capi
