// 64 B rk_call round trips through ringkerneld (any backend), and echo
// throughput from several client processes, printed as percentiles and
// rates. Usage: rk_bench_call <socket> <backend cpu|cuda> [calls] [procs] [idle_clients]
#include <ringkernel/ringkernel.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shm/ring.h"
#include "shm/segment.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what, rk_status s) {
  std::fprintf(stderr, "%s: %s (%s)\n", what, rk_status_string(s), rk_last_error_message());
  std::exit(1);
}

rk_kernel* attach_or_launch(rk_client* c, const char* name, rk_backend backend, uint32_t grid, bool launch) {
  rk_kernel* k = nullptr;
  if (launch) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.backend = backend;
    o.instance_name = name;
    o.grid = grid;
    if (rk_status s = rk_launch(c, "echo", &o, &k)) die("launch", s);
    if (rk_status s = rk_activate(k)) die("activate", s);
  } else if (rk_status s = rk_attach(c, name, &k)) {
    die("attach", s);
  }
  return k;
}

void print_percentiles(std::vector<double>& ns, const char* label) {
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) { return ns[size_t(p * (ns.size() - 1))] / 1e3; };
  std::printf("%-22s n=%zu  p50 %7.2f us  p90 %7.2f us  p99 %7.2f us  p99.9 %7.2f us  max %8.2f us\n", label,
              ns.size(), pct(0.5), pct(0.9), pct(0.99), pct(0.999), ns.back() / 1e3);
}

// The baseline of the CPU backend: the same 64 B round trip over two bare
// rings between two processes (no envelope, no server, no library).
void ring_ping_pong(size_t n) {
  using namespace rk;
  const shm::RingConfig cfg{1u << 20, 65792};
  const uint64_t mem = shm::ring_bytes(cfg.capacity);
  auto seg = shm::Segment::create(4096 + 2 * mem);
  if (!seg) return;
  (void)seg->unlink();  // inherited across fork
  std::byte* a = static_cast<std::byte*>(seg->data()) + 4096;
  std::byte* b = a + mem;
  shm::format_ring(a, cfg);
  shm::format_ring(b, cfg);
  const size_t rounds = n + 10000;
  const pid_t child = fork();
  if (child == 0) {
    auto in = shm::RingConsumer::attach(a, mem);
    auto out = shm::RingProducer::attach(b, mem);
    for (size_t i = 0; i < rounds; ++i) {
      auto r = in->wait(Deadline::after_ms(10000));
      if (!r) _exit(1);
      auto room = out->reserve(r->body.size(), Deadline::after_ms(10000));
      if (!room) _exit(1);
      std::memcpy(room->data(), r->body.data(), r->body.size());
      out->commit(r->body.size());
      in->pop(*r);
    }
    _exit(0);
  }
  auto out = shm::RingProducer::attach(a, mem);
  auto in = shm::RingConsumer::attach(b, mem);
  std::byte msg[64] = {};
  std::vector<double> ns;
  ns.reserve(n);
  for (size_t i = 0; i < rounds; ++i) {
    auto t0 = Clock::now();
    auto room = out->reserve(sizeof msg, Deadline::after_ms(10000));
    if (!room) break;
    std::memcpy(room->data(), msg, sizeof msg);
    out->commit(sizeof msg);
    auto r = in->wait(Deadline::after_ms(10000));
    if (!r) break;
    in->pop(*r);
    if (i >= 10000) ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  if (!ns.empty()) print_percentiles(ns, "raw ring ping-pong 64B");
}

void latency(rk_kernel* k, size_t n, const char* label) {
  std::vector<double> ns;
  ns.reserve(n);
  unsigned char payload[64];
  std::memset(payload, 0xab, sizeof payload);
  for (size_t i = 0; i < n + 10000; ++i) {
    rk_message* m = nullptr;
    auto t0 = Clock::now();
    if (rk_status s = rk_call(k, 1, payload, sizeof payload, &m, 10000)) die("call", s);
    auto t1 = Clock::now();
    rk_message_release(m);
    if (i >= 10000) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  print_percentiles(ns, label);
}

// One client process streaming pipelined sends for `seconds`; returns
// replies received.
size_t stream(const char* sock, const char* name, double seconds) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(sock, &c)) die("connect", s);
  rk_kernel* k = attach_or_launch(c, name, RK_BACKEND_AUTO, 0, false);
  unsigned char payload[64] = {};
  size_t sent = 0, got = 0;
  const size_t window = 256;
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    while (sent - got < window && rk_send(k, 1, payload, sizeof payload, sent, 0) == RK_OK) ++sent;
    rk_message* m = nullptr;
    while (got < sent && rk_receive(k, &m, got + 1 == sent ? 1000 : 0) == RK_OK) {
      rk_message_release(m);
      ++got;
    }
  }
  while (got < sent) {
    rk_message* m = nullptr;
    if (rk_receive(k, &m, 5000) != RK_OK) break;
    rk_message_release(m);
    ++got;
  }
  rk_kernel_release(k);
  rk_disconnect(c);
  return got;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <socket> <cpu|cuda> [calls] [procs] [idle_clients]\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);  // figures survive a killed run
  const char* sock = argv[1];
  const rk_backend backend = std::string(argv[2]) == "cuda" ? RK_BACKEND_CUDA : RK_BACKEND_CPU;
  const size_t calls = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 100000;
  const int procs = argc > 4 ? std::atoi(argv[4]) : 8;
  const int idle = argc > 5 ? std::atoi(argv[5]) : 64;

  rk_client* c = nullptr;
  if (rk_status s = rk_connect(sock, &c)) die("connect", s);
  rk_kernel* k = attach_or_launch(c, "bench-echo", backend, procs, true);
  if (backend == RK_BACKEND_CPU) ring_ping_pong(calls);  // the baseline, same run
  latency(k, calls, "rk_call 64B");

  // The same with idle clients attached to the same shared kernel.
  std::vector<rk_client*> idlers;
  std::vector<rk_kernel*> idle_k;
  for (int i = 0; i < idle; ++i) {
    rk_client* ic = nullptr;
    if (rk_status s = rk_connect(sock, &ic)) die("connect idle", s);
    idlers.push_back(ic);
    idle_k.push_back(attach_or_launch(ic, "bench-echo", backend, 0, false));
  }
  char label[64];
  std::snprintf(label, sizeof label, "rk_call 64B +%d idle", idle);
  latency(k, calls, label);
  for (auto* ik : idle_k) rk_kernel_release(ik);
  for (auto* ic : idlers) rk_disconnect(ic);

  // Throughput: pipelined 64 B echo from `procs` client processes.
  const double seconds = 3.0;
  int pipes[64][2];
  for (int p = 0; p < procs; ++p) {
    if (pipe(pipes[p]) != 0) return 1;
    if (fork() == 0) {
      size_t got = stream(sock, "bench-echo", seconds);
      if (write(pipes[p][1], &got, sizeof got) != sizeof got) _exit(1);
      _exit(0);
    }
  }
  size_t total = 0;
  for (int p = 0; p < procs; ++p) {
    size_t got = 0;
    if (read(pipes[p][0], &got, sizeof got) == sizeof got) total += got;
    wait(nullptr);
  }
  std::printf("echo 64B throughput, %d procs: %.2f M msg/s\n", procs, total / seconds / 1e6);
  rk_terminate(k, -1);
  rk_kernel_release(k);
  rk_disconnect(c);
  return 0;
}
