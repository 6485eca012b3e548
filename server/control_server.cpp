#include "server/control_server.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/serialize.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "schema/wire.h"
#include "shm/clock.h"

namespace rk::server {

namespace {

constexpr uint64_t kListenTag = UINT64_MAX - 1;
constexpr uint64_t kWakeTag = UINT64_MAX - 2;
constexpr uint64_t kSignalTag = UINT64_MAX - 3;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  return a;
}

// True if a server answers on `path`.
bool someone_listens(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a = address_of(path);
  bool live = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return live;
}

void add_fd(int epoll_fd, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

}  // namespace

// The wake descriptor exists from the start: backends made before listen()
// may already call wake() from their own threads.
ControlServer::ControlServer(ControlOptions options)
    : options_(std::move(options)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      reserve_fd_(open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

ControlServer::~ControlServer() {
  if (listen_fd_ >= 0) close(listen_fd_);
  if (created_socket_) unlink(options_.socket_path.c_str());
  for (int fd : {epoll_fd_, wake_fd_, signal_fd_, reserve_fd_})
    if (fd >= 0) close(fd);
}

Errc ControlServer::listen(std::string& why) {
  const std::string& path = options_.socket_path;
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    why = "socket path too long: " + path;
    return Errc::invalid_argument;
  }
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      why = "cannot create " + dir.string() + ": " + ec.message();
      return Errc::permission;
    }
    // Only we (and, with --allow-group, the group) may reach the socket.
    chmod(dir.c_str(), options_.allow_group ? 0710 : 0700);
    if (options_.allow_group && chown(dir.c_str(), uid_t(-1), *options_.allow_group) != 0) {
      why = "cannot give " + dir.string() + " to the allowed group: " + std::strerror(errno);
      return Errc::permission;
    }
  }
  if (fs::exists(path, ec)) {
    if (someone_listens(path)) {
      why = "another ringkerneld is serving " + path;
      return Errc::state;
    }
    unlink(path.c_str());  // stale socket of a dead server
  }
  listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un a = address_of(path);
  // Create the socket with no access at all, then open it up: no window in
  // which another user could connect.
  mode_t old = umask(0777);
  int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  umask(old);
  if (rc != 0) {
    why = "cannot bind " + path + ": " + std::strerror(errno);
    return Errc::permission;
  }
  created_socket_ = true;
  if (options_.allow_group) {
    if (chown(path.c_str(), uid_t(-1), *options_.allow_group) != 0) {
      why = "cannot give the socket to the allowed group: " + std::string(std::strerror(errno));
      return Errc::permission;
    }
    chmod(path.c_str(), 0660);
  } else {
    chmod(path.c_str(), 0600);
  }
  if (::listen(listen_fd_, 128) != 0) {
    why = std::string("listen: ") + std::strerror(errno);
    return Errc::internal;
  }
  return start_loop(why);
}

Errc ControlServer::adopt(int fd, std::string& why) {
  int type = 0;
  int listening = 0;
  sockaddr_storage addr{};
  socklen_t len = sizeof type, alen = sizeof addr, llen = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &llen) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0 || addr.ss_family != AF_UNIX ||
      type != SOCK_SEQPACKET || !listening) {
    why = "the socket passed by systemd must be a listening AF_UNIX SOCK_SEQPACKET socket "
          "(ListenSequentialPacket= in the .socket unit)";
    return Errc::invalid_argument;
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  listen_fd_ = fd;
  created_socket_ = false;
  return start_loop(why);
}

Errc ControlServer::start_loop(std::string& why) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  signal_fd_ = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  add_fd(epoll_fd_, listen_fd_, kListenTag);
  add_fd(epoll_fd_, wake_fd_, kWakeTag);
  add_fd(epoll_fd_, signal_fd_, kSignalTag);
  if (epoll_fd_ < 0 || signal_fd_ < 0) {
    why = std::string("epoll/signalfd: ") + std::strerror(errno);
    return Errc::internal;
  }
  return Errc::ok;
}

void ControlServer::wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;  // a full counter already means "wake up"
}

void ControlServer::stop() {
  stopping_ = true;
  wake();
}

bool ControlServer::admitted(const ucred& peer) const {
  if (peer.uid == geteuid() || peer.uid == 0) return true;
  if (!options_.allow_group) return false;
  // Primary or supplementary membership of the allowed group.
  if (peer.gid == *options_.allow_group) return true;
  passwd pw{}, *res = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(peer.uid, &pw, buf.data(), buf.size(), &res) != 0 || !res) return false;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(size_t(n));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) return false;
  }
  for (int i = 0; i < n; ++i)
    if (groups[size_t(i)] == *options_.allow_group) return true;
  return false;
}

namespace {
void refuse(int fd, Errc code, const std::string& why) {
  capnp::MallocMessageBuilder m;
  fail(m.initRoot<rk::schema::Reply>(), code, why);
  (void)wire::send_message(fd, m);
  close(fd);
}
}  // namespace

void ControlServer::accept_clients(Service& service) {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && reserve_fd_ >= 0) {
      // Out of descriptors: a pending connection would make level-triggered
      // epoll spin. Spend the reserve to take it and say why we refuse.
      close(reserve_fd_);
      fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) refuse(fd, Errc::limit, "ringkerneld is out of file descriptors");
      reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
      spdlog::warn("out of file descriptors: refused a connection");
      continue;
    }
    if (fd < 0) return;  // EAGAIN: all taken
    if (service.session_count() >= options_.max_sessions) {
      refuse(fd, Errc::limit, "ringkerneld serves its maximum of " + std::to_string(options_.max_sessions) + " sessions");
      continue;
    }
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || !admitted(peer)) {
      spdlog::warn("refused connection from uid {} pid {}", peer.uid, peer.pid);
      refuse(fd, Errc::permission, "uid " + std::to_string(peer.uid) + " may not use this ringkerneld");
      continue;
    }
    auto session = Session::create(service.allocate_session_id(), fd, peer, options_.limits);
    if (!session) {
      refuse(fd, session.error(), "cannot create the session's shared memory");
      continue;
    }
    Session& s = service.add_session(std::move(*session));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = s.id();
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

bool answer_control_packet(Service& service, Session& s, kj::ArrayPtr<const capnp::word> packet,
                           capnp::MessageBuilder& reply, int& pass_fd) {
  pass_fd = -1;
  try {
    capnp::FlatArrayMessageReader reader(packet, wire::control_reader_options());
    return service.handle(s, reader.getRoot<rk::schema::Request>(), reply, pass_fd);
  } catch (const kj::Exception& ex) {
    fail(reply.initRoot<rk::schema::Reply>(), Errc::malformed,
         std::string("malformed control message: ") + ex.getDescription().cStr());
    pass_fd = -1;
    return true;
  }
}

void ControlServer::serve_session(Service& service, uint64_t session_id) {
  static wire::Packet packet;  // control thread only
  // A bounded number per wake-up: epoll is level-triggered, so a client
  // that pipelines requests gets the rest next round, after everyone else.
  for (int handled = 0; handled < 16; ++handled) {
    Session* s = service.session_by_id(session_id);
    if (!s) return;
    const int fd = s->fd();
    Errc e = packet.receive(fd, -1);
    if (e == Errc::empty) return;
    if (e != Errc::ok) {  // EOF, reset, oversized or unaligned: the session ends
      service.close_session(s->id());
      return;
    }
    capnp::MallocMessageBuilder reply;
    int pass_fd = -1;
    const bool answer = answer_control_packet(
        service, *s, kj::arrayPtr(packet.words().data(), packet.words().size()), reply, pass_fd);
    if (answer && wire::send_message(fd, reply, pass_fd) != Errc::ok) {
      service.close_session(s->id());
      return;
    }
  }
}

int ControlServer::run(Service& service) {
  std::vector<epoll_event> events(64);
  while (!stopping_) {
    const uint64_t deadline = service.next_deadline_ns();
    int timeout = -1;
    if (deadline != UINT64_MAX) {
      const uint64_t now = monotonic_ns();
      timeout = deadline <= now ? 0 : int(std::min<uint64_t>((deadline - now + 999999) / 1000000, 3600000));
    }
    int n = epoll_wait(epoll_fd_, events.data(), int(events.size()), timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("epoll_wait: {}", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[size_t(i)].data.u64;
      if (tag == kListenTag) {
        accept_clients(service);
      } else if (tag == kWakeTag) {
        uint64_t v;
        while (read(wake_fd_, &v, sizeof v) > 0) {
        }
        service.scan();
        for (auto& hook : wake_hooks_) hook();
      } else if (tag == kSignalTag) {
        signalfd_siginfo si;
        while (read(signal_fd_, &si, sizeof si) > 0)
          spdlog::info("signal {}: shutting down", si.ssi_signo);
        stopping_ = true;
      } else {
        if (!service.session_by_id(tag)) continue;  // closed earlier in this round
        if (events[size_t(i)].events & EPOLLIN) serve_session(service, tag);
        else service.close_session(tag);  // hang-up with nothing to read
      }
    }
    service.expire_deadlines();
  }
  service.shutdown();
  return 0;
}

}  // namespace rk::server
