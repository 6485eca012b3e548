#include "server/cuda/cuda_backend.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "kernels/registry.h"
#include "server/cuda/gpu_layout.h"
#include "shm/atomic_at.h"
#include "shm/clock.h"
#include "shm/segment_layout.h"

namespace rk::server::gpu {

namespace {

using shm::at;

// Not a real handler: on the CUDA backend it launches a kernel that traps,
// to exercise the fault path (tests, operators checking recovery).
const KernelDef kDebugTrap{"debug_trap", nullptr, 0, 1, 32, false};
// Likewise: a kernel that spins and never stamps a heartbeat, for the hang
// watchdog.
const KernelDef kDebugHang{"debug_hang", nullptr, 0, 1, 32, false};

uint32_t builtin_index(const KernelDef* def) {
  if (def == &kDebugTrap) return kTrapKernel;
  if (def == &kDebugHang) return kHangKernel;
  return uint32_t(def - builtin_kernels().data());
}

class CudaExecutor final : public Executor {
 public:
  CudaExecutor(std::shared_ptr<WorkerLink> link, uint32_t instance, shm::Segment control, uint32_t grid)
      : link_(std::move(link)), instance_(instance), control_seg_(std::move(control)), grid_(grid) {
    page_ = reinterpret_cast<ControlPage*>(static_cast<std::byte*>(control_seg_.data()) + sizeof(shm::SegmentHeader));
    link_->watch(instance_, page_, grid_);
  }
  ~CudaExecutor() override { link_->unwatch(instance_); }

  Errc bind(ChannelPtr ch, std::string& why) override {
    WorkerMessage m{};
    m.op = WorkerOp::bind;
    m.instance = instance_;
    m.session = ch->session_id;
    m.slot = ch->slot;
    m.request_offset = ch->area_offset;
    m.ring_bytes = ch->area_bytes / 2;
    m.reply_offset = ch->area_offset + m.ring_bytes;
    m.capacity = ch->requests.config().capacity;
    m.max_record = ch->requests.config().max_record;
    return link_->call(m, ch->segment->fd(), -1, why);
  }

  void unbind(const ChannelPtr& ch) override {
    WorkerMessage m{};
    m.op = WorkerOp::unbind;
    m.instance = instance_;
    m.session = ch->session_id;
    m.slot = ch->slot;
    std::string why;
    if (link_->call(m, -1, -1, why) != Errc::ok && !link_->dead())
      spdlog::error("kernel #{}: GPU worker could not unbind a channel: {}", instance_, why);
  }

  void set_active(bool active) override {
    at(page_->cb.active).store(active ? 1 : 0, std::memory_order_release);
    at(page_->cb.epoch).fetch_add(1, std::memory_order_release);
  }

  void request_terminate() override { at(page_->cb.terminate_requested).store(1, std::memory_order_release); }

  Telemetry telemetry() const override {
    Telemetry t;
    uint64_t sum = 0, newest = 0;
    bool all_parked = true;
    for (uint32_t b = 0; b < grid_; ++b) {
      BlockStats& s = page_->blocks[b];
      t.processed += at(s.processed).load(std::memory_order_relaxed);
      t.errors += at(s.errors).load(std::memory_order_relaxed);
      sum += at(s.latency_sum_ns).load(std::memory_order_relaxed);
      t.latency_max_ns = std::max(t.latency_max_ns, at(s.latency_max_ns).load(std::memory_order_relaxed));
      t.backpressure += at(s.backpressure).load(std::memory_order_relaxed);
      newest = std::max(newest, at(s.heartbeat_ns).load(std::memory_order_relaxed));
      if (uint16_t e = at(s.last_error).load(std::memory_order_relaxed)) t.last_error = e;
      all_parked = all_parked && at(s.parked).load(std::memory_order_relaxed);
    }
    t.latency_avg_ns = t.processed ? sum / t.processed : 0;
    const uint64_t now = realtime_ns();  // %globaltimer counts Unix-epoch ns
    t.heartbeat_age_ns = newest && now > newest ? now - newest : 0;
    t.parked = all_parked;
    t.epoch = at(page_->cb.epoch).load(std::memory_order_relaxed);
    const bool done = at(page_->cb.terminated).load(std::memory_order_acquire) != 0;
    t.faulted = !done && link_->dead();
    t.terminated = done || t.faulted;
    return t;
  }

  std::string fault_message() const override { return link_->dead() ? link_->death() : std::string(); }

 private:
  std::shared_ptr<WorkerLink> link_;
  uint32_t instance_;
  shm::Segment control_seg_;
  ControlPage* page_;
  uint32_t grid_;
};

}  // namespace

std::string worker_executable() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / "ringkernel-cuda-worker").string();
}

std::shared_ptr<WorkerLink> WorkerLink::start(const std::string& exe, int device, uint64_t hang_ms, ControlWake wake,
                                              std::string& why) {
  if (access(exe.c_str(), X_OK) != 0) {
    why = "this ringkerneld was built without the CUDA backend (" + exe + " is missing)";
    return nullptr;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    why = std::string("socketpair: ") + std::strerror(errno);
    return nullptr;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Child: keep only its end (dup2 clears CLOEXEC); signals unblocked.
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the daemon, even if it is SIGKILLed
    dup2(sv[1], 3);
    std::string dev = std::to_string(device);
    execl(exe.c_str(), exe.c_str(), "--device", dev.c_str(), "--fd", "3", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(sv[1]);
  std::shared_ptr<WorkerLink> link(new WorkerLink());
  link->pid_ = pid;
  link->fd_ = sv[0];
  link->wake_ = std::move(wake);
  WorkerMessage ready{};
  int fds[2];
  // CUDA's first initialisation can take seconds.
  Errc e = receive_worker_message(link->fd_, ready, fds, 60000);
  if (e != Errc::ok || ready.op != WorkerOp::ready || ready.status != 0) {
    why = e != Errc::ok ? "the GPU worker did not start" : std::string(ready.text);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(link->fd_);
    link->fd_ = -1;
    link->pid_ = -1;
    return nullptr;
  }
  link->device_name_ = ready.text;
  link->reader_ = std::thread([l = link.get()] { l->read_loop(); });
  link->watchdog_ = std::make_unique<HeartbeatWatchdog>(hang_ms, [l = link.get()](const std::string& hung) {
    spdlog::error("{}; killing the GPU worker (pid {})", hung, l->pid_);
    l->kill_worker(hung + "; the GPU worker was killed and will be restarted");
  });
  return link;
}

WorkerLink::~WorkerLink() {
  watchdog_.reset();  // it may call kill_worker()
  closing_.store(true, std::memory_order_release);
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);  // the worker stops its kernels and exits
  if (reader_.joinable()) reader_.join();
  if (fd_ >= 0) close(fd_);
}

void WorkerLink::read_loop() {
  for (;;) {
    WorkerMessage m{};
    int fds[2];
    Errc e = receive_worker_message(fd_, m, fds, -1);
    for (int fd : fds)
      if (fd >= 0) close(fd);
    if (e != Errc::ok) break;
    if (m.op == WorkerOp::reply) {
      std::lock_guard lock(mu_);
      reply_ = m;
      cv_.notify_all();
    } else if (m.op == WorkerOp::exited) {
      wake_();
    }
  }
  int status = 0;
  std::string why = "the GPU worker exited";
  // It stops its kernels and exits on its own; a worker stuck in the
  // driver gets SIGKILL after a few seconds.
  pid_t reaped = 0;
  for (int i = 0; i < 500 && (reaped = waitpid(pid_, &status, WNOHANG)) == 0; ++i) usleep(10000);
  if (reaped == 0) {
    kill(pid_, SIGKILL);
    reaped = waitpid(pid_, &status, 0);
  }
  if (reaped == pid_) {
    if (WIFSIGNALED(status)) why = "the GPU worker was killed by signal " + std::to_string(WTERMSIG(status));
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) why = "device fault: the GPU worker's CUDA context failed";
    else if (WIFEXITED(status)) why = "the GPU worker exited with status " + std::to_string(WEXITSTATUS(status));
  }
  {
    std::lock_guard lock(mu_);
    if (!kill_reason_.empty()) why = kill_reason_;
    death_ = why;
    dead_.store(true, std::memory_order_release);
    cv_.notify_all();
  }
  // Closing the link asks the worker to stop: a clean exit then is no fault.
  const bool asked = closing_.load(std::memory_order_acquire) && reaped == pid_ && WIFEXITED(status) &&
                     WEXITSTATUS(status) == 0;
  if (asked) spdlog::info("the GPU worker stopped (pid {})", pid_);
  else spdlog::warn("{} (pid {}); its kernels are FAULTED", why, pid_);
  wake_();
}

void WorkerLink::kill_worker(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (kill_reason_.empty()) kill_reason_ = why;
  }
  kill(pid_, SIGKILL);
}

void WorkerLink::watch(uint32_t instance, const ControlPage* page, uint32_t grid) {
  if (watchdog_) watchdog_->watch(instance, page, grid);
}

void WorkerLink::unwatch(uint32_t instance) {
  if (watchdog_) watchdog_->unwatch(instance);
}

std::string WorkerLink::death() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return death_;
}

Errc WorkerLink::call(WorkerMessage& request, int fd0, int fd1, std::string& why, int timeout_ms) {
  std::lock_guard call_lock(call_mu_);
  std::unique_lock lock(mu_);
  reply_.reset();
  if (dead()) {
    why = death_;
    return Errc::kernel_faulted;
  }
  if (send_worker_message(fd_, request, fd0, fd1) != Errc::ok) {
    why = "the GPU worker is gone";
    return Errc::kernel_faulted;
  }
  if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return reply_ || dead(); })) {
    // A worker that does not answer is hung (or stuck in the driver). Kill
    // it: its kernels turn FAULTED and the next launch starts a fresh one,
    // and no late reply can be taken for the next request's.
    why = "the GPU worker did not answer in time; it was killed and will be restarted";
    lock.unlock();
    kill_worker(why);
    return Errc::kernel_faulted;
  }
  if (!reply_) {
    why = death_;
    return Errc::kernel_faulted;
  }
  why = reply_->text;
  request.transfer = reply_->transfer;  // a launch: what the worker chose for "auto"
  return Errc(reply_->status);
}

std::unique_ptr<CudaBackend> CudaBackend::probe(int device, uint64_t hang_ms, ControlWake wake, std::string& why) {
  auto b = std::make_unique<CudaBackend>();
  b->exe_ = worker_executable();
  b->device_ = device;
  b->hang_ms_ = hang_ms;
  b->wake_ = wake;
  b->link_ = WorkerLink::start(b->exe_, device, hang_ms, wake, why);
  if (!b->link_) return nullptr;
  return b;
}

const KernelDef* CudaBackend::find_kernel(const std::string& name) const {
  if (name == kDebugTrap.name) return &kDebugTrap;
  if (name == kDebugHang.name) return &kDebugHang;
  return Backend::find_kernel(name);
}

Result<std::unique_ptr<Executor>> CudaBackend::launch(const LaunchSpec& spec, std::string& why) {
  if (link_->dead()) {
    // The last worker died (fault or kill): start a fresh context.
    auto fresh = WorkerLink::start(exe_, device_, hang_ms_, wake_, why);
    if (!fresh) return Errc::no_device;
    spdlog::info("GPU worker restarted (pid {})", fresh->pid());
    link_ = std::move(fresh);
    restarts_.fetch_add(1, std::memory_order_relaxed);
  }
  auto control = shm::Segment::create_sealed(kControlPageBytes);
  if (!control) {
    why = "cannot create the control page";
    return control.error();
  }
  WorkerMessage m{};
  m.op = WorkerOp::launch;
  m.instance = spec.instance_id;
  m.builtin = builtin_index(spec.def);
  m.grid = spec.grid ? spec.grid : spec.def->default_grid;
  m.block = spec.block ? spec.block : spec.def->default_block;
  m.state_bytes = spec.def->state_bytes;
  m.transfer = static_cast<uint16_t>(spec.transfer);
  Errc e = link_->call(m, control->fd(), spec.bell_fd, why, 60000);
  if (e != Errc::ok) return e;
  spdlog::info("kernel #{} on the GPU: {} transfer", spec.instance_id, transfer_name(Transfer(m.transfer)));
  return std::unique_ptr<Executor>(std::make_unique<CudaExecutor>(link_, spec.instance_id, std::move(*control),
                                                                  m.grid ? m.grid : 1));
}

}  // namespace rk::server::gpu
