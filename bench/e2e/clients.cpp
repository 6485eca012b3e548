// The client processes of ringkernel-bench: this program exec'd with
// `--client <mode> key=value...`, descriptor 3 the board (process.h),
// descriptor 4 the baseline's shared memory where a mode needs one.
//   rk-latency    rk_call round trips through libringkernel (client 0)
//   rk-stream     pipelined rk_send / rk_receive inside the board's window
//   rk-consume    pipelined ReduceSumRequests (a struct payload) to reduce_sum,
//                 the sums checked
//   ipc-echo      the cpu_ipc baseline's server: echoes every client's queue
//   ipc-latency   cpu_ipc round trips (client 0)
//   ipc-stream    cpu_ipc pipelined, like rk-stream
//   floor-ping    the floor baseline's host half (the kernel is the other)
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <ringkernel/ringkernel.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/clients.h"
#include "bench/e2e/floor_layout.h"
#include "bench/e2e/process.h"
#include "bench/e2e/raw_ipc.h"
#include "rk_schema/envelope.capnp.h"
#include "rk_schema/kernels.capnp.h"

namespace rk::bench {

// Enough requests in flight to keep a worker busy, bounded by half of a
// 1 MiB ring.
uint64_t stream_window(uint64_t payload) {
  return std::max<uint64_t>(2, std::min<uint64_t>(256, (512 * 1024) / (payload + 64)));
}

namespace {

struct Args {
  std::map<std::string, std::string> kv;
  std::string str(const char* k, const char* dflt = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? dflt : it->second;
  }
  uint64_t num(const char* k, uint64_t dflt = 0) const {
    auto it = kv.find(k);
    return it == kv.end() ? dflt : std::strtoull(it->second.c_str(), nullptr, 10);
  }
};

class Client {
 public:
  Client(Board& b, const Args& a) : board_(b), args_(a), index_(uint32_t(a.num("index"))), slot_(b.slot(index_)) {
    payload_.resize(a.num("payload", 64));
    std::mt19937_64 rng(a.num("seed", 1) * 1000003 + index_);
    for (auto& byte : payload_) byte = static_cast<unsigned char>(rng());
  }
  int fail(const std::string& why) {
    slot_.status = 1;
    std::snprintf(slot_.error, sizeof slot_.error, "%s", why.c_str());
    return 1;
  }
  int fail_rk(const char* what, rk_status s) {
    return fail(std::string(what) + ": " + rk_status_string(s) + " (" + rk_last_error_message() + ")");
  }
  // Blocks until the harness opens the window; false if it gave up on us.
  bool arrive_and_wait() {
    board_.header().ready.fetch_add(1, std::memory_order_acq_rel);
    const int64_t give_up = now_ns() + 120'000'000'000;
    while (board_.header().go.load(std::memory_order_acquire) == 0) {
      if (now_ns() > give_up) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }
  void record_sample(uint64_t i, uint64_t ns) {
    if (i < board_.sample_capacity()) board_.samples()[i] = ns;
  }

  Board& board_;
  const Args& args_;
  uint32_t index_;
  ClientSlot& slot_;
  std::vector<unsigned char> payload_;
};

struct Session {
  rk_client* client = nullptr;
  rk_kernel* kernel = nullptr;
  ~Session() {
    rk_kernel_release(kernel);
    rk_disconnect(client);
  }
};

// Connects and binds a channel to the harness's shared instance.
int attach(Client& c, Session& s) {
  if (rk_status st = rk_connect(c.args_.str("socket").c_str(), &s.client)) return c.fail_rk("connect", st);
  if (rk_status st = rk_attach(s.client, c.args_.str("instance").c_str(), &s.kernel)) return c.fail_rk("attach", st);
  return 0;
}

// $RK_BENCH_THINK_NS: the latency client waits this long (spinning, not
// measured) after each reply before its next call. While a request still
// lands before the scout's next look, a later send is a shorter call: the
// sweep tells how long requests wait for the look (docs/benchmarks.md).
int64_t think_ns() {
  const char* v = std::getenv("RK_BENCH_THINK_NS");
  return v && *v ? std::min<int64_t>(std::strtoll(v, nullptr, 10), 1'000'000) : 0;
}

int rk_latency(Client& c) {
  Session s;
  if (int e = attach(c, s)) return e;
  const uint64_t rounds = c.args_.num("rounds"), warmup = c.args_.num("warmup");
  const int64_t think = think_ns();
  for (uint64_t i = 0; i < warmup + rounds; ++i) {
    rk_message* m = nullptr;
    const int64_t t0 = now_ns();
    if (rk_status st = rk_call(s.kernel, 1, c.payload_.data(), c.payload_.size(), &m, 10000)) {
      rk_message_release(m);
      return c.fail_rk("rk_call", st);
    }
    const int64_t t1 = now_ns();
    size_t len = 0;
    const void* data = rk_message_data(m, &len);
    const bool ok = len == c.payload_.size() && (i % 1024 != 0 || std::memcmp(data, c.payload_.data(), len) == 0);
    rk_message_release(m);
    if (!ok) return c.fail("echo reply differs from the request");
    if (i >= warmup) c.record_sample(i - warmup, uint64_t(t1 - t0));
    while (think > 0 && now_ns() - t1 < think) {
    }
  }
  c.slot_.count = rounds;
  c.slot_.bytes = rounds * c.payload_.size();
  c.slot_.samples = rounds;
  return 0;
}

// The pipelined loop of rk-stream and rk-consume: keeps the window of
// requests in flight from `go` until the board's end, counts the replies
// inside [start, end), then drains so nothing is left in the ring.
// send(correlation) returns RK_OK, or RK_E_QUEUE_FULL / RK_E_TIMEOUT when the
// ring has no room; check(reply, index) returns why a reply is wrong, or "".
// The clock of a pipelined loop: read once every 16 messages, so that a
// rate is not set by clock reads (a few µs of granularity against a window
// of seconds). The rk and cpu_ipc loops both use it.
class LoopClock {
 public:
  int64_t now() {
    if ((n_++ & 15) == 0) t_ = now_ns();
    return t_;
  }

 private:
  uint64_t n_ = 0;
  int64_t t_ = 0;
};

// RK_BENCH_CLIENT_PROFILE=1 makes each pipelined client print, on stderr,
// how often rk_receive found no reply (a kernel-bound client) and a send
// found the ring full; =2 adds the time spent in each call (two clock
// reads per call, so the rate drops). A client that never waits is the
// bottleneck itself.
class ClientProfile {
 public:
  ClientProfile() {
    const char* v = std::getenv("RK_BENCH_CLIENT_PROFILE");
    level_ = v ? std::atoi(v) : 0;
  }
  int64_t mark() const { return level_ >= 2 ? now_ns() : 0; }
  void add(int phase, int64_t since) {
    ++n_[phase];
    if (level_ >= 2) ns_[phase] += uint64_t(now_ns() - since);
  }
  void print(uint32_t index) const {
    if (level_ == 0) return;
    static const char* const kNames[] = {"send", "receive_ok", "receive_empty", "send_full"};
    char line[512];
    int at = std::snprintf(line, sizeof line, "client %u:", index);
    for (int i = 0; i < 4; ++i)
      at += std::snprintf(line + at, sizeof line - size_t(at), " %s %llu x %.0f ns;", kNames[i],
                          (unsigned long long)n_[i], n_[i] ? double(ns_[i]) / double(n_[i]) : 0.0);
    std::fprintf(stderr, "%s\n", line);  // one write: clients print at the same moment
  }
  enum { kSend, kReceiveOk, kReceiveEmpty, kSendFull };

 private:
  int level_ = 0;
  uint64_t ns_[4] = {}, n_[4] = {};
};

template <class Send, class Check>
int pipeline(Client& c, Session& s, uint64_t window, Send send, Check check) {
  if (!c.arrive_and_wait()) return c.fail("no start signal");
  const int64_t start = c.board_.header().start_ns, end = c.board_.header().end_ns;
  uint64_t sent = 0, got = 0, counted = 0;
  ClientProfile profile;
  LoopClock clock;
  auto take = [&](rk_message* m) {
    std::string wrong = check(m, got);
    rk_message_release(m);
    ++got;
    return wrong;
  };
  for (;;) {
    while (sent - got < window) {
      const int64_t t0 = profile.mark();
      rk_status st = send(sent);
      if (st == RK_E_QUEUE_FULL || st == RK_E_TIMEOUT) {
        profile.add(ClientProfile::kSendFull, t0);
        break;
      }
      if (st != RK_OK) return c.fail_rk("send", st);
      profile.add(ClientProfile::kSend, t0);
      ++sent;
    }
    rk_message* m = nullptr;
    const int64_t t0 = profile.mark();
    rk_status st = rk_receive(s.kernel, &m, sent - got >= window ? 100 : 0);
    profile.add(st == RK_OK ? ClientProfile::kReceiveOk : ClientProfile::kReceiveEmpty, t0);
    const int64_t t = clock.now();
    if (st == RK_OK) {
      if (std::string wrong = take(m); !wrong.empty()) return c.fail(wrong);
      if (t >= start && t < end) ++counted;
    } else if (st != RK_E_TIMEOUT && st != RK_E_EMPTY) {
      return c.fail_rk("rk_receive", st);
    }
    if (t >= end) break;
  }
  while (got < sent) {  // leave nothing in flight
    rk_message* m = nullptr;
    if (rk_status st = rk_receive(s.kernel, &m, 10000)) return c.fail_rk("rk_receive (drain)", st);
    if (std::string wrong = take(m); !wrong.empty()) return c.fail(wrong);
  }
  c.slot_.count = counted;
  c.slot_.bytes = counted * c.payload_.size();
  profile.print(c.index_);
  return 0;
}

int rk_stream(Client& c) {
  Session s;
  if (int e = attach(c, s)) return e;
  const uint64_t window = c.args_.num("window", stream_window(c.payload_.size()));
  return pipeline(
      c, s, window,
      [&](uint64_t seq) { return rk_send(s.kernel, 1, c.payload_.data(), c.payload_.size(), seq, 0); },
      [](rk_message*, uint64_t) { return std::string(); });
}

// rk-consume's request: a framed Envelope carrying ReduceSumRequest{values}
// of payload / 4 floats, built once with Cap'n Proto (the documented way to
// send a struct payload through rk_reserve_envelope) and copied into the
// ring per send, so the client's cost per message is one copy, like rk_send.
// The values are small multiples of 1/4: every sum is exact in double, in
// any order, so a reply is either exactly right or wrong.
struct ReduceRequest {
  std::vector<capnp::word> record;
  double sum = 0;
};

ReduceRequest build_reduce_request(uint32_t kernel_id, uint64_t values, uint64_t seed) {
  ReduceRequest r;
  r.record.assign(values / 2 + 64, capnp::word{});  // the floats plus envelope headroom
  capnp::FlatMessageBuilder builder(kj::arrayPtr(r.record.data() + 1, r.record.size() - 1));
  auto env = builder.initRoot<schema::Envelope>();
  env.setKernel(kernel_id);
  env.setType(1);
  // One correlation for every copy: replies are counted, not matched.
  env.setCorrelation(uint64_t{1} << 62);
  auto list = env.getPayload().initAs<schema::ReduceSumRequest>().initValues(uint32_t(values));
  std::mt19937_64 rng(seed);
  for (uint32_t i = 0; i < values; ++i) {
    const float v = float(rng() % 4096) * 0.25f;
    list.set(i, v);
    r.sum += double(v);
  }
  const size_t words = builder.getSegmentsForOutput()[0].size();
  const uint32_t framing[2] = {0, uint32_t(words)};
  std::memcpy(r.record.data(), framing, sizeof framing);
  r.record.resize(words + 1);
  return r;
}

// Why a reduce_sum reply is wrong, or "". The sum is read once per
// kCheckEvery replies (the first included): enough that a wrong kernel
// cannot report a rate, cheap enough not to be what is measured.
std::string check_reduce_reply(rk_message* m, uint64_t index, double expected) {
  constexpr uint64_t kCheckEvery = 64;
  if (rk_status st = rk_message_status(m)) return std::string("reduce_sum replied ") + rk_status_string(st);
  if (index % kCheckEvery != 0) return {};
  size_t n = 0;
  const void* p = rk_message_capnp(m, &n);
  capnp::FlatArrayMessageReader reader(kj::arrayPtr(static_cast<const capnp::word*>(p), n / sizeof(capnp::word)));
  const double sum = reader.getRoot<schema::Envelope>().getPayload().getAs<schema::ReduceSumReply>().getSum();
  if (sum == expected) return {};
  char b[128];
  std::snprintf(b, sizeof b, "reduce_sum reply %llu: sum %.17g, expected %.17g", static_cast<unsigned long long>(index),
                sum, expected);
  return b;
}

int rk_consume(Client& c) {
  Session s;
  if (int e = attach(c, s)) return e;
  const uint64_t values = c.payload_.size() / sizeof(float);
  ReduceRequest req;
  try {
    req = build_reduce_request(rk_kernel_id(s.kernel), values, c.args_.num("seed", 1) * 1000003 + c.index_);
  } catch (const kj::Exception& e) {
    return c.fail("building the reduce_sum request: " + std::string(e.getDescription().cStr()));
  }
  const size_t bytes = req.record.size() * sizeof(capnp::word);
  const uint64_t window = c.args_.num("window", stream_window(c.payload_.size()));
  auto send = [&](uint64_t) {
    void* record = nullptr;
    rk_message* r = nullptr;
    if (rk_status st = rk_reserve_envelope(s.kernel, bytes, &record, &r, 0)) return st;
    std::memcpy(record, req.record.data(), bytes);
    return rk_commit_envelope(r, bytes);
  };
  auto check = [&](rk_message* m, uint64_t index) {
    try {
      return check_reduce_reply(m, index, req.sum);
    } catch (const kj::Exception& e) {
      return "reduce_sum reply does not decode: " + std::string(e.getDescription().cStr());
    }
  };
  return pipeline(c, s, window, send, check);
}

// cpu_ipc memory: per client a request queue then a reply queue.
struct IpcQueues {
  std::vector<RawQueue> req, rep;
  IpcQueues(SharedMemory& m, uint32_t clients, uint64_t queue_bytes) {
    auto* base = static_cast<std::byte*>(m.data());
    for (uint32_t i = 0; i < clients; ++i) {
      req.emplace_back(base + (2 * i) * queue_bytes);
      rep.emplace_back(base + (2 * i + 1) * queue_bytes);
    }
  }
};

int ipc_echo(Board& board, SharedMemory& mem, const Args& a) {
  const uint32_t n = board.header().clients;
  IpcQueues q(mem, n, a.num("queue_bytes"));
  Spinner spin;
  while (board.header().stop.load(std::memory_order_acquire) == 0) {
    bool any = false;
    for (uint32_t i = 0; i < n; ++i) {
      // Bursts of at most 32 per client and pass, like the CPU worker.
      for (int burst = 0; burst < 32; ++burst) {
        uint32_t len = 0;
        const std::byte* body = q.req[i].try_front(len);
        if (!body || !q.rep[i].try_push(body, len)) break;
        q.req[i].pop();
        any = true;
      }
    }
    if (!any) spin.wait();
  }
  return 0;
}

int ipc_latency(Client& c, SharedMemory& mem) {
  IpcQueues q(mem, 1, c.args_.num("queue_bytes"));
  const uint64_t rounds = c.args_.num("rounds"), warmup = c.args_.num("warmup");
  const uint32_t len = uint32_t(c.payload_.size());
  Spinner spin;
  for (uint64_t i = 0; i < warmup + rounds; ++i) {
    const int64_t t0 = now_ns();
    while (!q.req[0].try_push(c.payload_.data(), len)) spin.wait();
    const std::byte* body = nullptr;
    uint32_t got = 0;
    while (!(body = q.rep[0].try_front(got))) spin.wait();
    // Read in place, as rk_call's caller does; checked once per 1024.
    const bool same = got == len && (i % 1024 != 0 || std::memcmp(body, c.payload_.data(), len) == 0);
    q.rep[0].pop();
    const int64_t t1 = now_ns();
    if (!same) return c.fail("cpu_ipc reply differs from the request");
    if (i >= warmup) c.record_sample(i - warmup, uint64_t(t1 - t0));
  }
  c.slot_.count = rounds;
  c.slot_.bytes = rounds * len;
  c.slot_.samples = rounds;
  return 0;
}

int ipc_stream(Client& c, SharedMemory& mem) {
  IpcQueues q(mem, c.board_.header().clients, c.args_.num("queue_bytes"));
  RawQueue& req = q.req[c.index_];
  RawQueue& rep = q.rep[c.index_];
  const uint64_t window = c.args_.num("window", stream_window(c.payload_.size()));
  const uint32_t len = uint32_t(c.payload_.size());
  if (!c.arrive_and_wait()) return c.fail("no start signal");
  const int64_t start = c.board_.header().start_ns, end = c.board_.header().end_ns;
  uint64_t sent = 0, got = 0, counted = 0;
  Spinner spin;
  LoopClock clock;
  for (;;) {
    while (sent - got < window && req.try_push(c.payload_.data(), len)) ++sent;
    uint32_t n = 0;
    const int64_t t = clock.now();
    if (rep.try_front(n)) {
      rep.pop();
      ++got;
      if (t >= start && t < end) ++counted;
    } else {
      spin.wait();
    }
    if (t >= end) break;
  }
  const int64_t give_up = now_ns() + 10'000'000'000;
  while (got < sent && now_ns() < give_up) {
    uint32_t n = 0;
    if (rep.try_front(n)) {
      rep.pop();
      ++got;
    } else {
      spin.wait();
    }
  }
  c.slot_.count = counted;
  c.slot_.bytes = counted * len;
  return got == sent ? 0 : c.fail("cpu_ipc replies missing after the window");
}

int floor_ping(Client& c, SharedMemory& mem) {
  auto* base = static_cast<unsigned char*>(mem.data());
  auto* line = reinterpret_cast<FloorLine*>(base);
  std::atomic_ref<uint64_t> seq(line[kFloorRequest].word), done(line[kFloorReply].word);
  const uint64_t rounds = c.args_.num("rounds"), warmup = c.args_.num("warmup");
  const size_t len = c.payload_.size();
  const int64_t give_up_ns = 10'000'000'000;
  for (uint64_t i = 1; i <= warmup + rounds; ++i) {
    const int64_t t0 = now_ns();
    std::memcpy(base + kFloorReqPayload, c.payload_.data(), len);
    seq.store(i, std::memory_order_release);  // payload before the sequence
    while (done.load(std::memory_order_acquire) != i)
      if (now_ns() - t0 > give_up_ns) return c.fail("floor kernel does not answer");
    const int64_t t1 = now_ns();  // the reply is read in place
    if (i > warmup) c.record_sample(i - 1 - warmup, uint64_t(t1 - t0));
  }
  if (std::memcmp(base + kFloorRepPayload, c.payload_.data(), len) != 0)
    return c.fail("floor reply differs from the request");
  c.slot_.count = rounds;
  c.slot_.bytes = rounds * len;
  c.slot_.samples = rounds;
  return 0;
}

// $RK_BENCH_CLIENT_CPUS (a comma-separated CPU list): client i runs on
// CPU i % n of the list, away from the daemon, the worker and the other
// clients. For tails: a client that shares its core, or migrates, carries
// the other's work in its round trips (docs/benchmarks.md). Unset: the
// scheduler places the clients, as for a user's processes.
void pin_client(const Args& a) {
  const char* list = std::getenv("RK_BENCH_CLIENT_CPUS");
  if (!list || !*list) return;
  std::vector<int> cpus;
  for (const char* at = list;;) {
    char* end = nullptr;
    const long cpu = std::strtol(at, &end, 10);
    if (end == at || cpu < 0 || cpu >= CPU_SETSIZE || (*end != ',' && *end != '\0')) {
      std::fprintf(stderr, "ringkernel-bench: RK_BENCH_CLIENT_CPUS=%s: want CPU numbers separated by commas\n", list);
      return;
    }
    cpus.push_back(int(cpu));
    if (*end == '\0') break;
    at = end + 1;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus[size_t(a.num("index")) % cpus.size()], &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("ringkernel-bench: RK_BENCH_CLIENT_CPUS");
}

}  // namespace

int client_main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string mode = argv[2];
  const pid_t harness = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a killed harness
  if (getppid() != harness) return 1;
  Args a;
  for (int i = 3; i < argc; ++i) {
    const char* eq = std::strchr(argv[i], '=');
    if (eq) a.kv[std::string(argv[i], size_t(eq - argv[i]))] = eq + 1;
  }
  if (mode != "ipc-echo") pin_client(a);  // the baseline's server is not a client
  auto board = Board::adopt(3);
  if (!board) {
    std::fprintf(stderr, "ringkernel-bench --client %s: no board on descriptor 3\n", mode.c_str());
    return 2;
  }
  std::optional<SharedMemory> mem;
  if (mode.rfind("ipc-", 0) == 0 || mode == "floor-ping") {
    auto m = SharedMemory::adopt(4);
    if (!m) return 2;
    mem.emplace(std::move(*m));
  }
  if (mode == "ipc-echo") return ipc_echo(*board, *mem, a);
  Client c(*board, a);
  if (mode == "rk-latency") return rk_latency(c);
  if (mode == "rk-stream") return rk_stream(c);
  if (mode == "rk-consume") return rk_consume(c);
  if (mode == "ipc-latency") return ipc_latency(c, *mem);
  if (mode == "ipc-stream") return ipc_stream(c, *mem);
  if (mode == "floor-ping") return floor_ping(c, *mem);
  return c.fail("unknown client mode " + mode);
}

}  // namespace rk::bench
