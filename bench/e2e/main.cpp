// ringkernel-bench: the end-to-end harness (DESIGN.md §9, issue 6). Starts
// its own ringkerneld (or uses --socket), launches echo kernels through
// libringkernel, drives them from client processes (this program exec'd in
// a client mode, clients.cpp) and runs, in the same invocation, the
// baselines a user compares against: cpu_ipc (raw two-process shared-memory
// queues), and on a GPU floor / launch / graph / h2d_copy / mapped_read
// (gpu_baselines.h). Scenarios: latency, latency_idle, throughput, fairness,
// consume (64 KiB struct payloads summed by reduce_sum: request bytes a
// kernel consumes), idle. Prints a table and, with --json, one record per
// measurement. Never asserts timings.
#include <ringkernel/ringkernel.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "bench/e2e/clients.h"
#include "bench/e2e/floor_layout.h"
#include "bench/e2e/gpu_baselines.h"
#include "bench/e2e/process.h"
#include "bench/e2e/raw_ipc.h"
#include "bench/e2e/stats.h"

namespace rk::bench {
namespace {

using nlohmann::json;

// Threads per block of reduce_sum (its registry default, kernels/registry.cpp),
// which mapped_read uses too so the two differ only in what they read through.
constexpr uint32_t kConsumeBlock = 256;

// The daemon this run started, stopped by a SIGINT / SIGTERM of the harness
// (client processes die with the harness by PR_SET_PDEATHSIG).
volatile sig_atomic_t g_daemon_pid = 0;

void on_signal(int sig) {
  if (g_daemon_pid > 0) kill(pid_t(g_daemon_pid), SIGTERM);
  signal(sig, SIG_DFL);
  raise(sig);
}

struct Options {
  std::string daemon;  // path of ringkerneld; default: next to this program
  std::string socket;  // use a running daemon instead
  std::vector<std::string> backends{"cpu", "cuda"};
  std::vector<std::string> scenarios{"latency", "throughput", "fairness", "consume", "idle"};
  std::string json_path;
  uint64_t seed = 1;
  double duration = 3.0;  // seconds per throughput / fairness / consume measurement
  uint64_t rounds = 100000;
  std::vector<uint64_t> payloads{64, 256, 1024, 4096, 16384, 65536};
  std::vector<uint64_t> stream_payloads{64, 65536};
  std::vector<uint32_t> clients{1, 2, 4, 8, 16};
  uint32_t fairness_clients = 64;
  uint32_t idle_clients = 64;
  double idle_seconds = 10;
  uint32_t wake_probes = 20;
  uint32_t grid = 0;
  uint32_t block = 0;
  // Transfer strategies of the CUDA kernels: every cuda scenario runs once
  // per entry (mapped vs staged in one run, against the same baselines).
  std::vector<std::string> transfers{"auto"};
  uint64_t consume_payload = 65536;              // request values bytes (16384 floats)
  uint64_t mapped_bytes = uint64_t{256} << 20;  // mapped_read's host buffer
  uint64_t h2d_bytes = uint64_t{1} << 30;       // h2d_copy's bytes per measurement
  bool quick = false;
  std::string samples_dir;  // raw latency samples, one file per measurement (for studying tails)
  std::string command_line;
};

struct Record {
  std::string scenario, backend, impl;
  uint64_t payload = 0;
  uint32_t clients = 1;
  std::optional<Summary> latency;
  double msgs_per_s = 0, bytes_per_s = 0;
  std::string device;
  json extra = json::object();
};

json to_json(const Record& r) {
  json j{{"scenario", r.scenario}, {"backend", r.backend}, {"impl", r.impl},     {"payload_bytes", r.payload},
         {"clients", r.clients},   {"p50_ns", nullptr},    {"p99_ns", nullptr},  {"msgs_per_s", r.msgs_per_s},
         {"bytes_per_s", r.bytes_per_s}, {"device", r.device}};
  if (r.latency) {
    const Summary& s = *r.latency;
    j["p50_ns"] = s.p50;
    j["p90_ns"] = s.p90;
    j["p99_ns"] = s.p99;
    j["p999_ns"] = s.p999;
    j["max_ns"] = s.max;
    j["mean_ns"] = s.mean;
    j["samples"] = s.n;
    json q = json::array();
    for (auto [k, v] : s.quantiles) q.push_back({k, v});
    j["quantiles"] = q;  // [q, ns] pairs: enough for a CDF
  }
  j.update(r.extra);
  return j;
}

std::string fmt_ns(double ns) {
  char b[32];
  if (ns < 1e4)
    std::snprintf(b, sizeof b, "%.2fus", ns / 1e3);
  else if (ns < 1e6)
    std::snprintf(b, sizeof b, "%.1fus", ns / 1e3);
  else
    std::snprintf(b, sizeof b, "%.2fms", ns / 1e6);
  return b;
}

std::string fmt_rate(double v) {
  char b[32];
  if (v >= 1e9)
    std::snprintf(b, sizeof b, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(b, sizeof b, "%.2fM", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(b, sizeof b, "%.1fk", v / 1e3);
  else
    std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

std::string fmt_size(uint64_t b) {
  return b >= 1024 ? std::to_string(b / 1024) + "K" : std::to_string(b);
}

class Harness {
 public:
  explicit Harness(Options o) : o_(std::move(o)), exe_(self_path()) {}
  int run();

 private:
  bool wants(const std::string& scenario) const {
    return std::find(o_.scenarios.begin(), o_.scenarios.end(), scenario) != o_.scenarios.end();
  }
  bool start_daemon();
  void stop_daemon();
  void note(const std::string& text) {
    std::printf("note: %s\n", text.c_str());
    notes_.push_back(text);
  }
  std::string device_of(const std::string& backend) const {
    return backend == "cuda" ? gpu_.name : cpu_;
  }
  const Record* find(const std::string& scenario, const std::string& impl, uint64_t payload, uint32_t clients) const {
    for (const auto& r : records_)
      if (r.scenario == scenario && r.impl == impl && r.payload == payload && r.clients == clients) return &r;
    return nullptr;
  }
  void add(Record r);
  std::string consume_vs(Record& r) const;
  std::vector<std::string> client_args(const std::string& mode, uint32_t index, uint64_t payload) const;
  bool collect(std::vector<Child>& children, Board& board, uint32_t n, int64_t timeout_ms, const char* what);

  // Measurements: each adds a record or a note.
  void rk_latency(const std::string& backend, uint64_t payload, const char* scenario, uint32_t idle);
  void ipc_latency(uint64_t payload);
  void floor_latency(uint64_t payload);
  void gpu_latency(const std::string& impl, uint64_t payload);
  void stream(const std::string& scenario, const std::string& backend, const std::string& impl, uint64_t payload,
              uint32_t clients);
  void consume_baselines();
  void idle(const std::string& backend);

  bool launch_shared(const std::string& kernel, const std::string& backend);
  void terminate_shared();
  static std::string kernel_of(const std::string& scenario) { return scenario == "consume" ? "reduce_sum" : "echo"; }
  std::string instance(const std::string& kernel, const std::string& backend) const {
    return "rkbench-" + kernel + "-" + backend + "-" + std::to_string(getpid());
  }
  // The grid the CUDA reduce_sum kernel runs with: --grid, else its registry
  // default (kernels/registry.cpp: 1), which mapped_read is measured at too.
  uint32_t consume_grid() const { return o_.grid ? o_.grid : 1; }
  void write_json() const;

  Options o_;
  std::string exe_;
  std::string socket_;
  std::optional<Child> daemon_;
  std::string daemon_dir_;
  rk_client* client_ = nullptr;
  rk_server_info info_{};
  std::vector<std::string> backends_;  // requested and offered by the daemon
  std::string transfer_ = "auto";      // of the CUDA kernels launched now
  rk_transfer launch_transfer() const {
    return transfer_ == "mapped" ? RK_TRANSFER_MAPPED : transfer_ == "staged" ? RK_TRANSFER_STAGED : RK_TRANSFER_AUTO;
  }
  // The RingKernel scenarios on `backends` (CPU baselines too when `baselines`).
  void run_ringkernel(const std::vector<std::string>& backends, bool baselines);
  std::map<std::string, rk_kernel*> shared_;  // by instance name
  GpuProbe gpu_;
  bool gpu_baselines_ = false;
  std::string cpu_ = cpu_model();
  std::vector<Record> records_;
  std::vector<std::string> notes_;
  std::mt19937_64 rng_;
};

bool Harness::start_daemon() {
  if (!o_.socket.empty()) {
    socket_ = o_.socket;
  } else {
    char tmpl[] = "/tmp/rk-bench-XXXXXX";
    if (!mkdtemp(tmpl)) return false;
    daemon_dir_ = tmpl;
    socket_ = daemon_dir_ + "/rk.sock";
    const std::string path = o_.daemon.empty() ? self_dir() + "/ringkerneld" : o_.daemon;
    auto c = Child::spawn(path, {"--socket", socket_, "--backend", "auto", "--log-level", "warn"});
    if (!c) {
      std::fprintf(stderr, "cannot start %s\n", path.c_str());
      return false;
    }
    daemon_.emplace(std::move(*c));
  }
  // The daemon probes its backends before it opens the socket: allow a while.
  const int64_t give_up = now_ns() + 60'000'000'000;
  rk_status st = RK_OK;
  while ((st = rk_connect(socket_.c_str(), &client_)) != RK_OK) {
    if (now_ns() > give_up || (daemon_ && waitpid(daemon_->pid(), nullptr, WNOHANG) != 0)) {
      std::fprintf(stderr, "cannot connect to %s: %s (%s)\n", socket_.c_str(), rk_status_string(st),
                   rk_last_error_message());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (daemon_) g_daemon_pid = daemon_->pid();
  rk_server_info_init(&info_);
  if (rk_status s = rk_server_info_get(client_, &info_)) {
    std::fprintf(stderr, "server info: %s\n", rk_status_string(s));
    return false;
  }
  return true;
}

void Harness::stop_daemon() {
  rk_disconnect(client_);
  client_ = nullptr;
  if (daemon_) {
    g_daemon_pid = 0;
    daemon_->terminate();
    if (daemon_->wait(15000) != 0) note("ringkerneld did not exit cleanly on SIGTERM");
    daemon_.reset();
  }
  if (!daemon_dir_.empty()) rmdir(daemon_dir_.c_str());
}

bool Harness::launch_shared(const std::string& kernel, const std::string& backend) {
  rk_launch_options lo;
  rk_launch_options_init(&lo);
  lo.backend = backend == "cuda" ? RK_BACKEND_CUDA : RK_BACKEND_CPU;
  const std::string name = instance(kernel, backend);
  lo.instance_name = name.c_str();
  lo.grid = o_.grid;
  lo.block = o_.block;
  lo.transfer = launch_transfer();
  rk_kernel* k = nullptr;
  rk_status st = rk_launch(client_, kernel.c_str(), &lo, &k);
  if (st == RK_OK) st = rk_activate(k);
  if (st != RK_OK) {
    note("backend " + backend + ": launching " + kernel + " failed: " + rk_status_string(st) + " (" +
         rk_last_error_message() + "); its scenarios are skipped");
    rk_kernel_release(k);
    return false;
  }
  shared_[name] = k;
  return true;
}

void Harness::terminate_shared() {
  for (auto& [name, k] : shared_) {
    rk_terminate(k, -1);
    rk_kernel_release(k);
  }
  shared_.clear();
}

void Harness::add(Record r) {
  r.device = device_of(r.backend);
  if (r.backend == "cuda" && r.impl == "ringkernel") r.extra["transfer"] = transfer_;
  // The same-run baseline this figure is judged against.
  std::string vs;
  if (r.impl == "ringkernel" && r.scenario == "consume") {
    vs = consume_vs(r);
  } else if (r.impl == "ringkernel") {
    const std::string base = r.backend == "cuda" ? "floor" : "cpu_ipc";
    const std::string scen = r.scenario == "latency_idle" ? "latency" : r.scenario;
    if (const Record* b = find(scen, base, r.payload, r.scenario == "latency_idle" ? 1 : r.clients)) {
      char buf[64];
      if (r.latency && b->latency && b->latency->p50 > 0) {
        std::snprintf(buf, sizeof buf, "%.2fx %s p50", r.latency->p50 / b->latency->p50, base.c_str());
        r.extra["vs_baseline_p50"] = r.latency->p50 / b->latency->p50;
      } else if (!r.latency && b->msgs_per_s > 0) {
        std::snprintf(buf, sizeof buf, "%.2fx %s rate", r.msgs_per_s / b->msgs_per_s, base.c_str());
        r.extra["vs_baseline_rate"] = r.msgs_per_s / b->msgs_per_s;
      } else {
        buf[0] = 0;
      }
      vs = buf;
      if (!vs.empty()) r.extra["baseline"] = base;
    }
    const bool round_trips = r.scenario == "latency" || r.scenario == "latency_idle";
    const Record* bare = r.backend == "cuda" && round_trips && r.latency ? find("latency", "floor", 0, 1) : nullptr;
    if (bare && bare->latency && bare->latency->p50 > 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, ", %.2fx 0 B floor", r.latency->p50 / bare->latency->p50);
      vs += buf;
      r.extra["vs_bare_floor_p50"] = r.latency->p50 / bare->latency->p50;
    }
  }
  std::string tail;
  if (r.extra.contains("jain")) tail += " jain " + std::to_string(r.extra["jain"].get<double>()).substr(0, 5);
  if (r.extra.contains("cpu_percent")) {
    char b[64];
    std::snprintf(b, sizeof b, " cpu %.2f%% over %.0fs, first wake %s", r.extra["cpu_percent"].get<double>(),
                  r.extra["idle_s"].get<double>(), fmt_ns(r.extra["wake_first_ns"].get<double>()).c_str());
    tail += b;
  }
  if (r.extra.contains("grid")) tail += " grid " + std::to_string(r.extra["grid"].get<uint32_t>());
  if (r.extra.contains("transfer") && o_.transfers.size() > 1) tail += " " + r.extra["transfer"].get<std::string>();
  if (r.extra.contains("idle_clients")) tail += " +" + std::to_string(r.extra["idle_clients"].get<int>()) + " idle";
  if (r.latency) {
    const Summary& s = *r.latency;
    std::printf("%-12s %-5s %-10s %6s %4u %9s %9s %9s %9s %9s %9s %9s  %s%s\n", r.scenario.c_str(), r.backend.c_str(),
                r.impl.c_str(), fmt_size(r.payload).c_str(), r.clients, fmt_ns(s.p50).c_str(), fmt_ns(s.p90).c_str(),
                fmt_ns(s.p99).c_str(), fmt_ns(s.p999).c_str(), fmt_ns(s.max).c_str(), fmt_rate(r.msgs_per_s).c_str(),
                fmt_rate(r.bytes_per_s).c_str(), vs.c_str(), tail.c_str());
  } else {
    std::printf("%-12s %-5s %-10s %6s %4u %9s %9s %9s %9s %9s %9s %9s  %s%s\n", r.scenario.c_str(), r.backend.c_str(),
                r.impl.c_str(), fmt_size(r.payload).c_str(), r.clients, "-", "-", "-", "-", "-",
                fmt_rate(r.msgs_per_s).c_str(), fmt_rate(r.bytes_per_s).c_str(), vs.c_str(), tail.c_str());
  }
  records_.push_back(std::move(r));
}

// consume on CUDA is judged against the two raw ways a GPU takes 64 KiB
// from host memory: DMA copies (h2d_copy) and a kernel of the same grid
// loading mapped memory (mapped_read). The CPU backend has no such baseline.
std::string Harness::consume_vs(Record& r) const {
  if (r.backend != "cuda" || r.bytes_per_s <= 0) return {};
  std::string vs;
  char b[64];
  if (const Record* h = find("consume", "h2d_copy", r.payload, 1); h && h->bytes_per_s > 0) {
    const double x = r.bytes_per_s / h->bytes_per_s;
    std::snprintf(b, sizeof b, "%.2fx h2d_copy rate", x);
    r.extra["vs_baseline_rate"] = x;
    r.extra["baseline"] = "h2d_copy";
    vs = b;
  }
  for (const auto& m : records_)
    if (m.scenario == "consume" && m.impl == "mapped_read" && m.bytes_per_s > 0 &&
        m.extra.value("grid", 0u) == consume_grid()) {
      const double x = r.bytes_per_s / m.bytes_per_s;
      std::snprintf(b, sizeof b, "%s%.2fx mapped_read", vs.empty() ? "" : ", ", x);
      r.extra["vs_mapped_read_rate"] = x;
      vs += b;
    }
  return vs;
}

std::vector<std::string> Harness::client_args(const std::string& mode, uint32_t index, uint64_t payload) const {
  return {kClientFlag,
          mode,
          "index=" + std::to_string(index),
          "payload=" + std::to_string(payload),
          "seed=" + std::to_string(o_.seed),
          "socket=" + socket_};
}

// Waits for every child; false (with a note) if one failed.
bool Harness::collect(std::vector<Child>& children, Board& board, uint32_t n, int64_t timeout_ms, const char* what) {
  bool ok = true;
  const int64_t deadline = now_ns() + timeout_ms * 1000000;
  for (auto& c : children) {
    const int64_t left = std::max<int64_t>(1000, (deadline - now_ns()) / 1000000);
    if (c.wait(left) != 0) ok = false;
  }
  for (uint32_t i = 0; i < n; ++i)
    if (board.slot(i).status != 0) {
      note(std::string(what) + ": client " + std::to_string(i) + ": " + board.slot(i).error);
      return false;
    }
  if (!ok) note(std::string(what) + ": a client process failed or timed out");
  return ok;
}

uint64_t warmup_for(uint64_t rounds) { return std::min<uint64_t>(10000, std::max<uint64_t>(100, rounds / 10)); }

// --samples-dir: every latency measurement's samples in the order taken, as
// native uint64 ns, so a tail can be told periodic (the kernel's) from random.
std::string g_samples_dir;

void save_samples(const std::string& name, const std::vector<uint64_t>& ns) {
  if (g_samples_dir.empty()) return;
  for (int n = 0;; ++n) {
    const std::string path = g_samples_dir + "/" + name + (n ? "-" + std::to_string(n) : "") + ".u64";
    if (FILE* probe = std::fopen(path.c_str(), "rb")) {
      std::fclose(probe);
      continue;
    }
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(ns.data(), sizeof(uint64_t), ns.size(), f);
      std::fclose(f);
    }
    return;
  }
}

Record latency_record(const char* scenario, const std::string& backend, const std::string& impl, uint64_t payload,
                      std::vector<uint64_t> ns) {
  save_samples(std::string(scenario) + "-" + backend + "-" + impl + "-" + std::to_string(payload), ns);
  Record r{scenario, backend, impl, payload};
  double total = 0;
  for (uint64_t v : ns) total += double(v);
  r.latency = summarize(ns);
  r.msgs_per_s = total > 0 ? double(ns.size()) / (total / 1e9) : 0;  // one at a time
  r.bytes_per_s = r.msgs_per_s * double(payload);
  return r;
}

void Harness::rk_latency(const std::string& backend, uint64_t payload, const char* scenario, uint32_t idle) {
  if (!shared_.count(instance("echo", backend))) return;
  // Idle clients: sessions with a channel bound to the same kernel, silent.
  std::vector<std::pair<rk_client*, rk_kernel*>> idlers;
  for (uint32_t i = 0; i < idle; ++i) {
    rk_client* c = nullptr;
    rk_kernel* k = nullptr;
    if (rk_connect(socket_.c_str(), &c) != RK_OK || rk_attach(c, instance("echo", backend).c_str(), &k) != RK_OK) {
      note(std::string("idle client ") + std::to_string(i) + ": " + rk_last_error_message());
      rk_disconnect(c);
      break;
    }
    idlers.emplace_back(c, k);
  }
  const uint64_t rounds = o_.rounds, warmup = warmup_for(rounds);
  auto board = Board::create(1, rounds);
  if (!board) return note("cannot create the board");
  auto args = client_args("rk-latency", 0, payload);
  args.push_back("instance=" + instance("echo", backend));
  args.push_back("rounds=" + std::to_string(rounds));
  args.push_back("warmup=" + std::to_string(warmup));
  std::vector<Child> kids;
  if (auto c = Child::spawn(exe_, args, {board->fd()})) kids.push_back(std::move(*c));
  const bool ok = !kids.empty() && collect(kids, *board, 1, 600000, "rk-latency");
  for (auto [c, k] : idlers) {
    rk_kernel_release(k);
    rk_disconnect(c);
  }
  if (!ok) return;
  Record r = latency_record(scenario, backend, "ringkernel", payload,
                            std::vector<uint64_t>(board->samples(), board->samples() + board->slot(0).samples));
  if (idle) r.extra["idle_clients"] = idlers.size();
  add(std::move(r));
}

void Harness::ipc_latency(uint64_t payload) {
  const uint64_t rounds = o_.rounds, warmup = warmup_for(rounds);
  const uint64_t qbytes = raw_queue_bytes(4, payload);
  auto board = Board::create(1, rounds);
  auto mem = SharedMemory::create("rk-bench-ipc", 2 * qbytes);
  if (!board || !mem) return note("cpu_ipc: no shared memory");
  RawQueue::format(mem->data(), 4, payload);
  RawQueue::format(static_cast<std::byte*>(mem->data()) + qbytes, 4, payload);
  const std::string qb = "queue_bytes=" + std::to_string(qbytes);
  std::vector<Child> server, kids;
  if (auto c = Child::spawn(exe_, {kClientFlag, "ipc-echo", qb}, {board->fd(), mem->fd()})) server.push_back(std::move(*c));
  auto args = client_args("ipc-latency", 0, payload);
  args.insert(args.end(), {qb, "rounds=" + std::to_string(rounds), "warmup=" + std::to_string(warmup)});
  if (auto c = Child::spawn(exe_, args, {board->fd(), mem->fd()})) kids.push_back(std::move(*c));
  const bool ok = !server.empty() && !kids.empty() && collect(kids, *board, 1, 600000, "cpu_ipc latency");
  board->header().stop.store(1, std::memory_order_release);
  for (auto& s : server) s.wait(5000);
  if (!ok) return;
  add(latency_record("latency", "cpu", "cpu_ipc", payload,
                     std::vector<uint64_t>(board->samples(), board->samples() + board->slot(0).samples)));
}

void Harness::floor_latency(uint64_t payload) {
  const uint64_t rounds = o_.rounds, warmup = warmup_for(rounds);
  auto board = Board::create(1, rounds);
  auto mem = SharedMemory::create("rk-bench-floor", kFloorBytes);
  if (!board || !mem) return note("floor: no shared memory");
  GpuFloor floor;
  if (std::string e = gpu_floor_begin(floor, mem->data(), payload, rounds + warmup); !e.empty()) {
    gpu_floor_finish(floor);
    return note("floor " + fmt_size(payload) + ": " + e);
  }
  auto args = client_args("floor-ping", 0, payload);
  args.insert(args.end(), {"rounds=" + std::to_string(rounds), "warmup=" + std::to_string(warmup)});
  std::vector<Child> kids;
  if (auto c = Child::spawn(exe_, args, {board->fd(), mem->fd()})) kids.push_back(std::move(*c));
  const bool ok = !kids.empty() && collect(kids, *board, 1, 600000, "floor");
  if (!ok) std::atomic_ref<uint64_t>(static_cast<FloorLine*>(mem->data())[kFloorAbort].word).store(1, std::memory_order_release);
  if (std::string e = gpu_floor_finish(floor); !e.empty()) return note("floor: " + e);
  if (!ok) return;
  add(latency_record("latency", "cuda", "floor", payload,
                     std::vector<uint64_t>(board->samples(), board->samples() + board->slot(0).samples)));
}

void Harness::gpu_latency(const std::string& impl, uint64_t payload) {
  const uint64_t rounds = o_.rounds, warmup = warmup_for(rounds);
  GpuSamples s = impl == "launch" ? gpu_launch_round_trips(payload, rounds, warmup)
                                  : gpu_graph_round_trips(payload, rounds, warmup);
  if (!s.error.empty()) return note(impl + " " + fmt_size(payload) + ": " + s.error);
  add(latency_record("latency", "cuda", impl, payload, std::move(s.ns)));
}

void Harness::stream(const std::string& scenario, const std::string& backend, const std::string& impl,
                     uint64_t payload, uint32_t n) {
  const bool rk = impl == "ringkernel";
  const std::string name = instance(kernel_of(scenario), backend);
  if (rk && !shared_.count(name)) return;
  auto board = Board::create(n, 0);
  if (!board) return note("cannot create the board");
  const uint64_t window = stream_window(payload);
  const uint64_t qbytes = raw_queue_bytes(window, payload);
  std::optional<SharedMemory> mem;
  std::vector<Child> server, kids;
  std::vector<int> fds{board->fd()};
  const std::string qb = "queue_bytes=" + std::to_string(qbytes);
  if (!rk) {
    auto m = SharedMemory::create("rk-bench-ipc", 2 * n * qbytes);
    if (!m) return note("cpu_ipc: no shared memory");
    mem.emplace(std::move(*m));
    for (uint32_t i = 0; i < 2 * n; ++i) RawQueue::format(static_cast<std::byte*>(mem->data()) + i * qbytes, window, payload);
    fds.push_back(mem->fd());
    if (auto c = Child::spawn(exe_, {kClientFlag, "ipc-echo", qb}, fds)) server.push_back(std::move(*c));
  }
  for (uint32_t i = 0; i < n; ++i) {
    auto args = client_args(!rk ? "ipc-stream" : scenario == "consume" ? "rk-consume" : "rk-stream", i, payload);
    args.push_back(rk ? "instance=" + name : qb);
    if (auto c = Child::spawn(exe_, args, fds)) kids.push_back(std::move(*c));
  }
  const int64_t give_up = now_ns() + 120'000'000'000;
  while (board->header().ready.load(std::memory_order_acquire) < kids.size() && now_ns() < give_up) {
    bool failed = false;
    for (uint32_t i = 0; i < n; ++i) failed |= board->slot(i).status != 0;
    if (failed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Warm-up: clients run from `go`, but count only replies inside [start, end).
  const int64_t lead = int64_t(std::max(0.02, o_.duration * 0.1) * 1e9);
  board->header().start_ns = now_ns() + lead;
  board->header().end_ns = board->header().start_ns + int64_t(o_.duration * 1e9);
  board->header().go.store(1, std::memory_order_release);
  const bool ok = kids.size() == n &&
                  collect(kids, *board, n, int64_t(o_.duration * 1000) + 120000, (scenario + " " + impl).c_str());
  if (!server.empty()) {
    board->header().stop.store(1, std::memory_order_release);
    server[0].wait(5000);
  }
  if (!ok) return;
  Record r{scenario, rk ? backend : "cpu", impl, payload, n};
  std::vector<double> rates;
  double total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rates.push_back(double(board->slot(i).count) / o_.duration);
    total += rates.back();
  }
  r.msgs_per_s = total;
  r.bytes_per_s = total * double(payload);
  r.extra["window"] = window;
  r.extra["duration_s"] = o_.duration;
  r.extra["jain"] = jain_index(rates);
  if (scenario == "consume" && r.backend == "cuda") r.extra["grid"] = consume_grid();
  if (scenario == "fairness") {
    r.extra["per_client_msgs_per_s"] = rates;
    r.extra["min_client_msgs_per_s"] = *std::min_element(rates.begin(), rates.end());
    r.extra["max_client_msgs_per_s"] = *std::max_element(rates.begin(), rates.end());
  }
  add(std::move(r));
}

// The consume scenario's raw rates on this GPU, taken before any persistent
// kernel is resident: 64 KiB DMA copies back to back on one stream, and a
// kernel reading mapped pinned host memory with 16-byte loads, at the grid
// reduce_sum runs with and at one block per SM.
void Harness::consume_baselines() {
  const uint64_t chunk = o_.consume_payload;
  auto add_rate = [&](const std::string& impl, const GpuRate& g) {
    if (!g.error.empty()) return note(impl + ": " + g.error);
    Record r{"consume", "cuda", impl, chunk, 1};
    r.bytes_per_s = g.seconds > 0 ? g.bytes / g.seconds : 0;
    r.msgs_per_s = r.bytes_per_s / double(chunk);  // 64 KiB units, comparable to consume msg/s
    r.extra["bytes_moved"] = g.bytes;
    r.extra["seconds"] = g.seconds;
    if (g.grid) {
      r.extra["grid"] = g.grid;
      r.extra["block"] = kConsumeBlock;
      r.extra["buffer_bytes"] = o_.mapped_bytes;
    }
    add(std::move(r));
  };
  add_rate("h2d_copy", gpu_h2d_copy(chunk, o_.h2d_bytes));
  std::vector<uint32_t> grids{consume_grid()};
  if (gpu_.sms > 0 && uint32_t(gpu_.sms) != consume_grid()) grids.push_back(uint32_t(gpu_.sms));
  for (uint32_t g : grids) add_rate("mapped_read", gpu_mapped_read(o_.mapped_bytes, g, kConsumeBlock));
}

void Harness::idle(const std::string& backend) {
  rk_launch_options lo;
  rk_launch_options_init(&lo);
  lo.backend = backend == "cuda" ? RK_BACKEND_CUDA : RK_BACKEND_CPU;
  lo.grid = o_.grid;
  lo.block = o_.block;
  lo.transfer = launch_transfer();
  rk_kernel* k = nullptr;
  if (rk_status st = rk_launch(client_, "echo", &lo, &k); st != RK_OK || (st = rk_activate(k)) != RK_OK) {
    rk_kernel_release(k);
    return note("idle " + backend + ": " + rk_status_string(st));
  }
  unsigned char msg[64] = {};
  auto call = [&]() -> int64_t {
    rk_message* m = nullptr;
    const int64_t t0 = now_ns();
    const rk_status st = rk_call(k, 1, msg, sizeof msg, &m, 10000);
    const int64_t t1 = now_ns();
    rk_message_release(m);
    return st == RK_OK ? t1 - t0 : -1;
  };
  for (int i = 0; i < 1000; ++i)
    if (call() < 0) {
      rk_kernel_release(k);
      return note("idle " + backend + ": warm-up call failed");
    }
  const pid_t server = pid_t(info_.pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let spinners park
  const double c0 = tree_cpu_seconds(server);
  const int64_t t0 = now_ns();
  std::this_thread::sleep_for(std::chrono::duration<double>(o_.idle_seconds));
  const double c1 = tree_cpu_seconds(server);
  const double idle_s = double(now_ns() - t0) / 1e9;
  std::vector<uint64_t> wakes;
  const int64_t first = call();
  if (first > 0) wakes.push_back(uint64_t(first));
  // More wake-ups after shorter, seeded random pauses (50-150 ms; quick 5-15 ms).
  std::uniform_int_distribution<int> pause(o_.quick ? 5 : 50, o_.quick ? 15 : 150);
  for (uint32_t i = 1; i < o_.wake_probes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng_)));
    if (int64_t w = call(); w > 0) wakes.push_back(uint64_t(w));
  }
  rk_terminate(k, -1);
  rk_kernel_release(k);
  if (wakes.empty()) return note("idle " + backend + ": wake-up calls failed");
  Record r{"idle", backend, "ringkernel", sizeof msg, 1};
  r.latency = summarize(wakes);
  r.extra["cpu_seconds"] = c1 - c0;
  r.extra["cpu_percent"] = 100.0 * (c1 - c0) / idle_s;
  r.extra["idle_s"] = idle_s;
  r.extra["wake_first_ns"] = first;
  r.extra["server_pid"] = server;
  add(std::move(r));
}

std::string utc_now() {
  char b[64];
  const time_t t = time(nullptr);
  tm g{};
  gmtime_r(&t, &g);
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &g);
  return b;
}

void Harness::write_json() const {
  json meta{{"date", utc_now()},
            {"host", host_name()},
            {"cpu", cpu_},
            {"cores", std::thread::hardware_concurrency()},
            {"gpu", gpu_.present ? json(gpu_.name) : json(nullptr)},
            {"gpu_detail", gpu_.detail},
            {"gpu_driver", gpu_driver_version()},
            {"daemon_has_cuda", info_.has_cuda != 0},
            {"command", o_.command_line},
            {"seed", o_.seed},
            {"quick", o_.quick},
            {"duration_s", o_.duration},
            {"rounds", o_.rounds},
            {"notes", notes_}};
  json recs = json::array();
  for (const auto& r : records_) recs.push_back(to_json(r));
  std::ofstream f(o_.json_path);
  f << json{{"meta", meta}, {"records", recs}}.dump(1) << "\n";
}

void Harness::run_ringkernel(const std::vector<std::string>& backends, bool baselines) {
  backends_.clear();
  const bool echo = wants("latency") || wants("throughput") || wants("fairness");
  for (const auto& b : backends)
    if (!echo || launch_shared("echo", b)) backends_.push_back(b);
  if (wants("latency")) {
    for (uint64_t p : o_.payloads)
      for (const auto& b : backends_) rk_latency(b, p, "latency", 0);
    for (const auto& b : backends_) rk_latency(b, 64, "latency_idle", o_.idle_clients);
  }
  if (wants("throughput"))
    for (uint64_t p : o_.stream_payloads)
      for (uint32_t n : o_.clients) {
        if (baselines) stream("throughput", "cpu", "cpu_ipc", p, n);
        for (const auto& b : backends_) stream("throughput", b, "ringkernel", p, n);
      }
  if (wants("fairness")) {
    if (baselines) stream("fairness", "cpu", "cpu_ipc", 64, o_.fairness_clients);
    for (const auto& b : backends_) stream("fairness", b, "ringkernel", 64, o_.fairness_clients);
  }
  terminate_shared();
  // One persistent kernel at a time: echo has exited, so reduce_sum has the
  // GPU and PCIe to itself.
  if (wants("consume"))
    for (const auto& b : backends_) {
      if (!launch_shared("reduce_sum", b)) continue;
      for (uint32_t n : o_.clients) stream("consume", b, "ringkernel", o_.consume_payload, n);
      terminate_shared();
    }
  if (wants("idle"))
    for (const auto& b : backends_) idle(b);
}

int Harness::run() {
  rng_.seed(o_.seed);
  if (!start_daemon()) return 1;
  std::printf("ringkernel-bench: daemon pid %d on %s (%s), cpu: %s\n", info_.pid, socket_.c_str(),
              info_.has_cuda ? "cpu + cuda" : "cpu only", cpu_.c_str());
  const bool want_cuda = std::count(o_.backends.begin(), o_.backends.end(), "cuda") > 0;
  if (want_cuda) {
    gpu_ = gpu_probe();
    gpu_baselines_ = gpu_.present;
    if (gpu_.present)
      std::printf("gpu: %s (%s), driver %s\n", gpu_.name.c_str(), gpu_.detail.c_str(), gpu_driver_version().c_str());
    else
      note("GPU baselines (floor, launch, graph, h2d_copy, mapped_read) skipped: " + gpu_.detail);
  }
  std::printf("\n%-12s %-5s %-10s %6s %4s %9s %9s %9s %9s %9s %9s %9s  %s\n", "scenario", "back", "impl", "bytes", "cli",
              "p50", "p90", "p99", "p99.9", "max", "msg/s", "B/s", "vs same-run baseline");
  // Baselines first, before any RingKernel kernel is resident: a persistent
  // kernel polling host memory would otherwise share the GPU and PCIe with them.
  if (wants("consume") && gpu_baselines_) consume_baselines();
  // The table row "1-channel mapped ping-pong": the sequence alone,
  // no payload, the judged baseline (a 64 B message fits in its line;
  // docs/decisions.md, "Which floor"). `floor` of the call's payload (read
  // after the sequence) is printed beside each call as well.
  if (wants("latency") && gpu_baselines_) floor_latency(0);
  if (wants("latency"))
    for (uint64_t p : o_.payloads) {
      ipc_latency(p);
      if (gpu_baselines_) {
        floor_latency(p);
        gpu_latency("launch", p);
        gpu_latency("graph", p);
      }
    }
  std::vector<std::string> backends;
  for (const auto& b : o_.backends) {
    if (b == "cuda" && !info_.has_cuda) {
      note("backend cuda skipped: the daemon offers no CUDA backend");
      continue;
    }
    if (b != "cpu" && b != "cuda") {
      note("unknown backend " + b + " skipped");
      continue;
    }
    backends.push_back(b);
  }
  const bool cuda = std::count(backends.begin(), backends.end(), "cuda") > 0;
  for (size_t t = 0; t < o_.transfers.size(); ++t) {
    transfer_ = o_.transfers[t];
    if (t == 0) run_ringkernel(backends, true);
    else if (cuda) run_ringkernel({"cuda"}, false);
  }
  stop_daemon();
  if (!o_.json_path.empty()) {
    write_json();
    std::printf("\nwrote %zu records to %s\n", records_.size(), o_.json_path.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace rk::bench

int main(int argc, char** argv) {
  using namespace rk::bench;
  if (argc > 1 && std::strcmp(argv[1], kClientFlag) == 0) return client_main(argc, argv);
  setvbuf(stdout, nullptr, _IOLBF, 0);  // figures survive a killed run
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  Options o;
  CLI::App app{"ringkernel-bench — end-to-end latency, throughput, fairness and idle cost of RingKernel, beside "
               "same-run baselines (cpu_ipc; floor, launch, graph, h2d_copy, mapped_read on a GPU)"};
  std::string backends = "cpu,cuda", scenarios = "latency,throughput,fairness,consume,idle";
  std::optional<double> duration, idle_s;
  std::optional<uint64_t> rounds;
  app.add_option("--daemon", o.daemon, "ringkerneld to start (default: the one next to this program)");
  app.add_option("--socket", o.socket, "use the ringkerneld on this socket instead of starting one");
  app.add_option("--backend", backends, "backends to measure, comma-separated: cpu,cuda")->capture_default_str();
  app.add_option("--scenarios", scenarios,
                 "latency,throughput,fairness,consume,idle (latency includes latency_idle)")
      ->capture_default_str();
  app.add_option("--json", o.json_path, "write one JSON record per measurement to this file");
  app.add_option("--seed", o.seed, "payload bytes and wake-up pauses")->capture_default_str();
  app.add_option("--duration", duration,
                 "seconds per throughput / fairness / consume measurement (default 3, quick 0.25)");
  app.add_option("--rounds", rounds, "round trips per latency measurement (default 100000, quick 2000)");
  app.add_option("--idle-seconds", idle_s, "idle window of the idle scenario (default 10, quick 1)");
  app.add_option("--payloads", o.payloads, "latency payload sizes in bytes")->delimiter(',');
  app.add_option("--stream-payloads", o.stream_payloads, "payload sizes of the throughput scenario (default 64,65536)")
      ->delimiter(',');
  app.add_option("--clients", o.clients, "client processes of the throughput and consume scenarios")->delimiter(',');
  app.add_option("--fairness-clients", o.fairness_clients, "clients sharing one kernel (default 64)");
  app.add_option("--grid", o.grid, "grid of the CUDA kernels (0: kernel default)");
  app.add_option("--block", o.block, "block of the CUDA kernels (0: kernel default)");
  std::string transfers = "auto";
  app.add_option("--transfer", transfers,
                 "transfer strategies of the CUDA kernels, comma-separated (auto,mapped,staged): each one runs "
                 "every cuda scenario")
      ->capture_default_str();
  app.add_option("--consume-payload", o.consume_payload, "request values bytes of the consume scenario")
      ->capture_default_str();
  app.add_option("--samples-dir", o.samples_dir, "write each latency measurement's raw samples (uint64 ns) here");
  app.add_flag("--quick", o.quick, "smoke run in a few seconds (CI): small counts, fewer sizes");
  CLI11_PARSE(app, argc, argv);
  g_samples_dir = o.samples_dir;
  auto split = [](const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) out.push_back(item);
    return out;
  };
  o.backends = split(backends);
  o.scenarios = split(scenarios);
  o.transfers = split(transfers);
  for (const auto& t : o.transfers)
    if (t != "auto" && t != "mapped" && t != "staged") {
      std::fprintf(stderr, "unknown transfer strategy '%s' (auto, mapped, staged)\n", t.c_str());
      return 2;
    }
  if (o.transfers.empty()) o.transfers = {"auto"};
  if (o.quick) {
    o.duration = 0.25;
    o.rounds = 2000;
    o.idle_seconds = 1;
    o.wake_probes = 5;
    if (app.count("--payloads") == 0) o.payloads = {64, 4096, 65536};
    if (app.count("--clients") == 0) o.clients = {1, 2};
    if (app.count("--fairness-clients") == 0) o.fairness_clients = 8;
    o.idle_clients = 8;
    if (app.count("--stream-payloads") == 0) o.stream_payloads = {64};
    o.mapped_bytes = uint64_t{32} << 20;
    o.h2d_bytes = uint64_t{128} << 20;
  }
  if (duration) o.duration = *duration;
  if (rounds) o.rounds = std::max<uint64_t>(1, *rounds);
  if (idle_s) o.idle_seconds = *idle_s;
  for (int i = 0; i < argc; ++i) o.command_line += (i ? " " : "") + std::string(argv[i]);
  return Harness(std::move(o)).run();
}
