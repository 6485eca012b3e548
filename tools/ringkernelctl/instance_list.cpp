#include "tools/ringkernelctl/instance_list.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "rk_schema/control.capnp.h"
#include "schema/wire.h"
#include "tools/ringkernelctl/report.h"

namespace rk::ctl {

namespace {

// One session on the control socket, closed by the destructor.
class ControlSession {
 public:
  ControlSession(const std::string& path, int timeout_ms) : path_(path), timeout_ms_(timeout_ms) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) throw Failure(RK_E_INVALID_ARGUMENT, "socket path too long: " + path);
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw Failure(RK_E_INTERNAL, std::string("socket: ") + std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int err = errno;
      ::close(fd_);
      if (err == EACCES || err == EPERM) throw Failure(RK_E_PERMISSION, "no permission to connect to " + path);
      throw Failure(RK_E_NOT_FOUND, "no ringkerneld at " + path + ": " + std::strerror(err));
    }
  }
  ~ControlSession() { ::close(fd_); }
  ControlSession(const ControlSession&) = delete;
  ControlSession& operator=(const ControlSession&) = delete;

  // Sends `request`, reads the reply, and throws unless its status is 0.
  rk::schema::Reply::Reader exchange(capnp::MessageBuilder& request, const char* what) {
    reader_.reset();
    // A server that refuses the peer says why and hangs up, possibly before
    // our request arrives: after a failed send, still read what it left.
    const bool sent = wire::send_message(fd_, request) == Errc::ok;
    Errc e = packet_.receive(fd_, sent ? timeout_ms_ : 0);
    if (e == Errc::disconnected) e = packet_.receive(fd_, 0);
    if (e == Errc::timeout && sent)
      throw Failure(RK_E_TIMEOUT, std::string(what) + ": ringkerneld did not answer within " +
                                      std::to_string(timeout_ms_) + " ms");
    if (e != Errc::ok) throw Failure(RK_E_DISCONNECTED, std::string(what) + ": ringkerneld closed the connection");
    try {
      reader_ = std::make_unique<capnp::FlatArrayMessageReader>(
          kj::arrayPtr(packet_.words().data(), packet_.words().size()), wire::control_reader_options());
      auto reply = reader_->getRoot<rk::schema::Reply>();
      if (reply.getStatus() != 0)
        throw Failure(static_cast<rk_status>(reply.getStatus()), std::string(what) + ": " + reply.getMessage().cStr());
      if (!sent) throw Failure(RK_E_DISCONNECTED, std::string(what) + ": ringkerneld closed the connection");
      return reply;
    } catch (const kj::Exception& ex) {
      throw Failure(RK_E_MALFORMED, std::string(what) + ": malformed reply: " + ex.getDescription().cStr());
    }
  }

 private:
  std::string path_;
  int timeout_ms_;
  int fd_ = -1;
  wire::Packet packet_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

}  // namespace

std::vector<InstanceRow> list_instances(const std::string& socket_path, int timeout_ms) {
  ControlSession session(socket_path.empty() ? wire::default_socket_path() : socket_path, timeout_ms);
  {
    capnp::MallocMessageBuilder m;
    auto hello = m.initRoot<rk::schema::Request>().initHello();
    hello.setAbiVersion(RK_ABI_VERSION);
    hello.setProtocolVersion(wire::kProtocolVersion);
    hello.setClientName("ringkernelctl list, pid " + std::to_string(::getpid()));
    session.exchange(m, "hello");
  }
  {
    // This session never maps its segment (it sends no messages): let the
    // server unlink the name now rather than when the session closes.
    capnp::MallocMessageBuilder m;
    m.initRoot<rk::schema::Request>().setSegmentMapped();
    session.exchange(m, "hello");
  }
  capnp::MallocMessageBuilder m;
  m.initRoot<rk::schema::Request>().setList();
  auto reply = session.exchange(m, "list");
  if (!reply.isInstances()) throw Failure(RK_E_MALFORMED, "list: the reply carries no instance list");
  std::vector<InstanceRow> rows;
  for (auto e : reply.getInstances()) {
    InstanceRow r;
    r.id = e.getInstanceId();
    r.kernel = e.getKernel().cStr();
    r.instance_name = e.getInstanceName().cStr();
    r.state = static_cast<rk_state>(e.getState());        // same numbering as the C enum
    r.backend = static_cast<rk_backend>(e.getBackend());  // likewise
    r.device = e.getDevice();
    r.channels = e.getChannels();
    r.processed = e.getProcessed();
    r.owner_session = e.getOwnerSession();
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace rk::ctl
