// The daemon's state and the meaning of every control request: sessions,
// the registry of kernel instances, and the backends. Single-threaded: only
// the control thread calls it; kernels reach it through ControlWake.
#pragma once
#include <capnp/message.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rk_schema/control.capnp.h"
#include "server/backend.h"
#include "server/metrics_snapshot.h"
#include "server/registry.h"
#include "server/session.h"

namespace rk::server {

struct ServiceOptions {
  SessionLimits limits;
  uint64_t default_ring_bytes = 0;  // per ring direction when a launch says 0; 0: 1 MiB
  int64_t terminate_timeout_ms = 5000;
  std::string default_backend = "cpu";  // what "auto" means on this host
  std::string version = "0.1.0";
};

// What to launch: the fields of a launch request.
struct InstanceRequest {
  std::string kernel;
  std::string name;              // empty: private to its session
  std::string backend = "auto";  // "auto": the server's default
  int32_t device = -1;
  uint64_t ring_bytes = 0;       // 0: ServiceOptions::default_ring_bytes
  uint32_t grid = 0, block = 0;
  Transfer transfer = Transfer::automatic;
};

class Service {
 public:
  Service(ServiceOptions options, std::map<std::string, std::unique_ptr<Backend>> backends,
          ControlWake wake_control);
  ~Service();

  Session& add_session(std::unique_ptr<Session> session);
  Session* session_by_id(uint64_t id);
  // Releases everything the session held, at once; closes its socket.
  void close_session(uint64_t session_id);
  size_t session_count() const { return sessions_.size(); }

  // Handles one request. Returns false when the reply is deferred (sent
  // later by the Service itself); else `reply` is filled and `pass_fd` is a
  // descriptor to send with it, or -1.
  bool handle(Session& session, rk::schema::Request::Reader request, capnp::MessageBuilder& reply,
              int& pass_fd);

  // After a ControlWake: finish terminated kernels, answer deferred
  // terminations, close sessions that broke their rings.
  void scan();
  // Earliest deadline of a deferred reply (monotonic ns), or UINT64_MAX.
  uint64_t next_deadline_ns() const;
  void expire_deadlines();
  // Terminates every kernel (waiting up to the termination timeout each)
  // and closes every session.
  void shutdown();
  // Launches a named shared instance owned by no session (the kernels of
  // the configuration file), activated if asked. On failure `why` says why.
  Errc launch_shared(const InstanceRequest& request, bool activate, std::string& why);
  // The figures /metrics reports (service_metrics.cpp). Loads only.
  MetricsSnapshot metrics_snapshot();

 private:
  using Reply = rk::schema::Reply::Builder;
  void on_hello(Session& s, rk::schema::Hello::Reader req, Reply out);
  void on_launch(Session& s, rk::schema::Launch::Reader req, Reply out, int& pass_fd);
  void on_attach(Session& s, rk::schema::Attach::Reader req, Reply out, int& pass_fd);
  void on_activate(Session& s, uint32_t id, bool active, Reply out);
  bool on_terminate(Session& s, rk::schema::Terminate::Reader req, Reply out);
  void on_release(Session& s, uint32_t id, Reply out);
  void on_status(Session& s, uint32_t id, Reply out);
  void on_metrics(Session& s, uint32_t id, Reply out);
  void on_list(Session& s, Reply out);
  void on_server_info(Reply out);

  // Creates the instance and starts its kernel (inactive), unbound.
  Result<KernelInstance*> start_instance(const InstanceRequest& r, uint64_t owner_session, uid_t owner_uid,
                                         std::string& why);
  // Binds a new channel of `s` to `k` and fills the Bound reply.
  void bind(Session& s, KernelInstance& k, Reply out, int& pass_fd);
  // The instance `id` if `s` is bound to it, else fills an error reply.
  KernelInstance* bound_instance(Session& s, uint32_t id, Reply out);
  bool may_control(const Session& s, const KernelInstance& k, Reply out);
  void unbind(KernelInstance& k, const ChannelPtr& ch);
  void finish_instance(KernelInstance& k);
  void end_if_private(KernelInstance& k, uint64_t session_id);
  void remove_if_unused(uint32_t id);

  struct DeferredTerminate {
    uint64_t session_id;
    uint32_t instance_id;
    uint64_t deadline_ns;
  };
  void answer_terminate(const DeferredTerminate& d, Errc status, const std::string& message);
  void close_pending();  // closes the sessions answer_terminate could not reach

  ServiceOptions options_;
  std::map<std::string, std::unique_ptr<Backend>> backends_;
  ControlWake wake_control_;
  Registry registry_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  std::vector<DeferredTerminate> deferred_;
  std::vector<uint64_t> to_close_;
  uint64_t next_session_id_ = 1;
  uint64_t kernel_faults_ = 0;  // instances that ended FAULTED
  uint64_t start_time_s_ = 0;   // wall clock at construction

 public:
  uint64_t allocate_session_id() { return next_session_id_++; }
};

// Unread request bytes of a channel, from the ring's published indices.
uint64_t queued_bytes(const Channel& ch);

// Fills an error reply.
void fail(rk::schema::Reply::Builder out, Errc code, const std::string& message);

}  // namespace rk::server
