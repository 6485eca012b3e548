// ringkernel-cuda-worker: holds one GPU's CUDA context and its persistent
// kernels for ringkerneld. Started by the daemon with a socketpair on an
// inherited descriptor; exits when the daemon goes or on any CUDA error (a
// device fault is sticky for the whole process, so the daemon restarts us).
#include <cuda_runtime.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kernels/registry.h"
#include "server/cuda/worker/gpu_instance.h"
#include "server/cuda/worker/persistent_kernel.h"
#include "server/cuda/worker/post_words.h"

using namespace rk;
using namespace rk::server::gpu;

namespace {

// Kernels' post words allocated before any kernel runs (post_words.h);
// more are allocated on demand.
constexpr uint32_t kReservedPostWordBlocks = 16;

std::mutex g_send_mu;  // replies (main thread) and exit notices (monitors)
int g_fd = -1;

void send(const WorkerMessage& m) {
  std::lock_guard lock(g_send_mu);
  if (send_worker_message(g_fd, m) != Errc::ok) std::_Exit(0);  // the daemon is gone
}

WorkerMessage reply_to(const WorkerMessage& req, Errc status, const std::string& why = {}) {
  WorkerMessage r{};
  r.op = WorkerOp::reply;
  r.instance = req.instance;
  r.status = uint16_t(status);
  r.set_text(why);
  return r;
}

// Describes the device, or says why it cannot serve.
Errc open_device(int device, std::string& what) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    what = std::string("no CUDA device: ") + (e == cudaSuccess ? "none found" : cudaGetErrorString(e));
    return Errc::no_device;
  }
  if (device >= count) {
    what = "no CUDA device " + std::to_string(device) + " (" + std::to_string(count) + " present)";
    return Errc::no_device;
  }
  if ((e = cudaSetDevice(device)) != cudaSuccess || (e = cudaFree(nullptr)) != cudaSuccess) {
    what = std::string("cannot open the device: ") + cudaGetErrorString(e);
    return Errc::no_device;
  }
  int host_register = 0;
  cudaDeviceGetAttribute(&host_register, cudaDevAttrHostRegisterSupported, device);
  if (!host_register) {
    what = "the device cannot map registered host memory (cudaDevAttrHostRegisterSupported = 0)";
    return Errc::no_device;
  }
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, device);
  int driver = 0;
  cudaDriverGetVersion(&driver);
  what = std::string(p.name) + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs, driver API " + std::to_string(driver);
  return Errc::ok;
}

}  // namespace

int main(int argc, char** argv) {
  int device = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--device") device = std::atoi(argv[i + 1]);
    else if (a == "--fd") g_fd = std::atoi(argv[i + 1]);
  }
  if (g_fd < 0) {
    std::fprintf(stderr, "ringkernel-cuda-worker is started by ringkerneld, not by hand\n");
    return 2;
  }
  // Load every kernel when the context is made. With lazy loading (CUDA's
  // default since 12.x) the first launch of a kernel waits for a module
  // load that synchronises with running work, and persistent kernels never
  // finish: the leading suspect for the multi-kernel hang seen on the H100.
  setenv("CUDA_MODULE_LOADING", "EAGER", 1);
  WorkerMessage ready{};
  ready.op = WorkerOp::ready;
  std::string what;
  ready.status = uint16_t(open_device(device, what));
  ready.set_text(what);
  if (ready.status == 0) {
    // RK_SMEM_CARVEOUT=-1 leaves the driver's choice (for experiments).
    const char* env = std::getenv("RK_SMEM_CARVEOUT");
    const int carveout = env && *env ? std::atoi(env) : 100;
    reserve_post_words(kReservedPostWordBlocks);
    {
      cudaError_t e = configure_persistent_kernel(carveout);
      if (e != cudaSuccess) {
        ready.status = uint16_t(Errc::no_device);
        ready.set_text(std::string("cannot configure the persistent kernel: ") + cudaGetErrorString(e));
      }
    }
  }
  send(ready);
  if (ready.status != 0) return 2;

  std::map<uint32_t, std::unique_ptr<GpuInstance>> instances;
  std::map<uint64_t, std::weak_ptr<MappedSegment>> segments;
  double gpu_share = 0;
  for (;;) {
    WorkerMessage m{};
    int fds[2];
    if (receive_worker_message(g_fd, m, fds, -1) != Errc::ok) break;
    // Free kernels that have ended (their monitors told the daemon), and
    // forget sessions whose segment no channel holds any more.
    for (auto it = instances.begin(); it != instances.end();) {
      if (it->second->exited()) {
        gpu_share -= it->second->share();
        it = instances.erase(it);
      } else {
        ++it;
      }
    }
    if (instances.empty()) unpin_idle();  // no kernel runs: unregistering is safe now
    std::erase_if(segments, [](const auto& entry) { return entry.second.expired(); });
    std::string why;
    switch (m.op) {
      case WorkerOp::launch: {
        Errc status = Errc::ok;
        auto g = GpuInstance::launch(
            m, fds[0], fds[1], gpu_share,
            [](uint32_t id) {
              WorkerMessage x{};
              x.op = WorkerOp::exited;
              x.instance = id;
              send(x);
            },
            status, why);
        WorkerMessage r = reply_to(m, status, why);
        if (g) {
          r.transfer = uint16_t(g->transfer());
          instances[m.instance] = std::move(g);
        }
        send(r);
        break;
      }
      case WorkerOp::bind: {
        auto it = instances.find(m.instance);
        if (it == instances.end()) {
          if (fds[0] >= 0) close(fds[0]);
          send(reply_to(m, Errc::not_found, "no such instance on this GPU"));
          break;
        }
        std::shared_ptr<MappedSegment> seg = segments[m.session].lock();
        if (!seg && fds[0] >= 0) {
          auto s = shm::Segment::from_fd(fds[0]);
          fds[0] = -1;
          if (s) {
            seg = std::make_shared<MappedSegment>();
            seg->segment = std::move(*s);
            segments[m.session] = seg;
          }
        }
        if (fds[0] >= 0) close(fds[0]);
        if (!seg) {
          send(reply_to(m, Errc::internal, "cannot map the session segment"));
          break;
        }
        Errc e = it->second->bind(m, seg, why);
        send(reply_to(m, e, why));
        break;
      }
      case WorkerOp::unbind: {
        auto it = instances.find(m.instance);
        Errc e = it == instances.end() ? Errc::ok : it->second->unbind((m.session << 32) | m.slot, why);
        send(reply_to(m, e, why));
        break;
      }
      default:
        send(reply_to(m, Errc::invalid_argument, "unknown worker request"));
    }
  }
  // The daemon has gone: stop every kernel, give them a moment to leave
  // their loops, then exit (the driver reclaims the context either way).
  for (auto& [id, g] : instances) g->request_stop();
  for (int i = 0; i < 500; ++i) {
    bool all = true;
    for (auto& [id, g] : instances) all = all && g->exited();
    if (all) break;
    usleep(10000);
  }
  std::_Exit(0);
}
