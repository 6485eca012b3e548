// rk_bench_ring: the shm ring against the floors a user would compare it to,
// each baseline measured in the same run.
//
//   BM_RingThroughput/<bytes>/<batch>   two threads, producer copies each body
//       in, consumer copies it out; records/s and bytes/s. batch = records
//       staged per publish (1 = one commit per record). In the same run,
//       interleaved: floor_* = the same blocks between the same threads
//       with no ring code (slots and one counter per side).
//   BM_Memcpy/<bytes>                   baseline: one thread copying blocks of
//       the same size through a buffer as big as the ring (1 MiB).
//   BM_PingPong64                       two processes (fork): a 64 B record out
//       on one ring and back on the other, p50/p99 round trip in ns; in the
//       same run, interleaved, the baselines: one shared atomic word bounced
//       between the processes (raw_word, the physical floor) and two words,
//       one written by each side (two_lines, the floor of any one-index-per-
//       side design such as this ring).
//
// Threads and processes are pinned to CPUs 0 and 1 when there are two. On a
// machine shared with other work, run under `chrt -f 20` (as root) so that
// other processes cannot preempt the pinned, spinning threads. Rates are
// computed from the measured time, so they need no interpretation of
// Google Benchmark's own rate flags.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shm/doorbell.h"
#include "shm/ring.h"
#include "shm/segment.h"

namespace {

using namespace rk;
using namespace rk::shm;

constexpr RingConfig kRing{1u << 20, 65536};
// One absolute deadline per benchmark run: a run that stalls this long has
// failed. (Computing a fresh deadline per call would put a clock read on
// the path being measured.)
constexpr int64_t kGiveUpMs = 60000;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
uint64_t now_ns() { return monotonic_ns(); }

void pin_to(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Restores the calling thread's CPU mask when it goes out of scope.
class PinScope {
 public:
  explicit PinScope(int cpu) {
    pthread_getaffinity_np(pthread_self(), sizeof saved_, &saved_);
    pin_to(cpu);
  }
  ~PinScope() { pthread_setaffinity_np(pthread_self(), sizeof saved_, &saved_); }

 private:
  cpu_set_t saved_;
};

// Runs start() (a fork or a thread creation) with the caller pinned to
// `cpu` for the moment, so the new task, which inherits the mask, begins
// life there. Otherwise it could be queued behind its creator spinning on
// the creator's CPU: a delay under the normal scheduler, a hang under
// SCHED_FIFO.
template <class Start>
auto start_on_cpu(int cpu, Start&& start) {
  PinScope pin(cpu);
  return start();
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Ring memory in private memory for the thread benchmarks. The producer
// and consumer objects sit on lines of their own: each thread writes its
// object on every record, and sharing a line would measure false sharing.
struct LocalRing {
  LocalRing() {
    memory.reset(std::aligned_alloc(kRingLine, ring_bytes(kRing.capacity)));
    std::memset(memory.get(), 0, ring_bytes(kRing.capacity));
    format_ring(memory.get(), kRing);
    producer = RingProducer::attach(memory.get(), ring_bytes(kRing.capacity)).value();
    consumer = RingConsumer::attach(memory.get(), ring_bytes(kRing.capacity)).value();
  }
  std::unique_ptr<void, FreeDeleter> memory;
  alignas(128) RingProducer producer;
  alignas(128) RingConsumer consumer;
};

// The consumer's progress, on a line of its own for the same reason.
struct alignas(128) Progress {
  std::atomic<uint64_t> consumed{0};
};

// Records per timed chunk: about 16 MiB of bodies, so the drain at the end
// of a chunk (counted in its time) is a small part of it.
uint64_t chunk_records(size_t bytes) {
  return std::clamp<uint64_t>((16u << 20) / std::max<size_t>(bytes, 1), 256, 1u << 18);
}

// ---- throughput between two threads ---------------------------------------------
//
// Each iteration moves one chunk through the ring and then, as the floor to
// compare against, one chunk of the same blocks between the same two threads
// with no ring code: fixed slots in a ring-sized buffer and one counter per
// side, published as often as the ring publishes. The chunks alternate, so
// both see the same machine (on a VM the host moves vCPUs around, and the
// cost of a cross-core transfer changes by a factor of four with it).

enum Phase : int { kRingPhase = 0, kFloorPhase = 1, kQuit = 2 };

// The floor's shared state; each counter on a line of its own.
struct PlainHandoff {
  explicit PlainHandoff(size_t size)
      : slot((std::max<size_t>(size, 8) + 7) & ~size_t{7}), slots(kRing.capacity / slot), buffer(kRing.capacity) {}
  size_t slot, slots;
  std::vector<std::byte> buffer;
  alignas(128) std::atomic<uint64_t> published{0};  // written by the producer
  alignas(128) std::atomic<uint64_t> acked{0};      // written by the consumer
};

struct alignas(128) PhaseWord {
  std::atomic<int> phase{kRingPhase};
};

// Releases (or acknowledges) every 32 records or every eighth of the ring,
// whichever comes first, so large records keep the producer busy.
bool time_to_release(uint64_t records, uint64_t bytes_since) {
  return (records & 31) == 0 || bytes_since >= kRing.capacity / 8;
}

void BM_RingThroughput(benchmark::State& state) {
  const size_t size = size_t(state.range(0));
  const uint64_t batch = uint64_t(state.range(1));
  const uint64_t chunk = chunk_records(size);
  LocalRing ring;
  PlainHandoff floor(size);
  std::vector<std::byte> source(size, std::byte{0x5a}), sink(size);
  Progress progress;
  std::atomic<uint64_t>& consumed = progress.consumed;
  PhaseWord phase_word;
  std::atomic<int>& phase = phase_word.phase;
  WaitStop phase_change;  // ends the consumer's ring wait when the phase changes

  auto consume = [&] {
    pin_to(1);
    uint64_t n = 0, released = 0, floor_seen = 0, floor_acked = 0;
    for (;;) {
      const int ph = phase.load(std::memory_order_acquire);
      if (ph == kQuit) return;
      if (ph == kFloorPhase) {
        phase_change.stop.store(false, std::memory_order_relaxed);
        const uint64_t pub = floor.published.load(std::memory_order_acquire);
        if (pub == floor_seen) {
          if (floor_acked != floor_seen) floor.acked.store(floor_acked = floor_seen, std::memory_order_release);
          cpu_relax();
          continue;
        }
        for (; floor_seen < pub; ++floor_seen) {
          std::memcpy(sink.data(), floor.buffer.data() + (floor_seen % floor.slots) * floor.slot, size);
          benchmark::DoNotOptimize(sink.data());
          if (time_to_release(floor_seen + 1, (floor_seen + 1 - floor_acked) * floor.slot))
            floor.acked.store(floor_acked = floor_seen + 1, std::memory_order_release);
        }
        continue;
      }
      auto r = ring.consumer.peek();
      if (r.error() == Errc::empty) {
        ring.consumer.release();
        released = ring.consumer.read_position();
        consumed.store(n, std::memory_order_release);
        r = ring.consumer.wait(Deadline::never(), &phase_change);
      }
      if (!r) continue;  // the phase changed
      std::memcpy(sink.data(), r->body.data(), r->body.size());
      benchmark::DoNotOptimize(sink.data());
      ring.consumer.advance(*r);
      if (time_to_release(++n, ring.consumer.read_position() - released)) {
        ring.consumer.release();
        released = ring.consumer.read_position();
        consumed.store(n, std::memory_order_release);
      }
    }
  };
  std::thread consumer = start_on_cpu(1, [&] { return std::thread(consume); });
  auto switch_phase = [&](Phase next) {
    phase.store(next, std::memory_order_release);
    phase_change.stop.store(true, std::memory_order_release);
    ring.consumer.data_bell().wake_all();
  };

  PinScope pin(0);
  const Deadline give_up = Deadline::after_ms(kGiveUpMs);
  uint64_t produced = 0, floor_sent = 0;
  double seconds = 0, floor_seconds = 0;
  for (auto _ : state) {
    // The ring.
    phase.store(kRingPhase, std::memory_order_release);
    double t0 = now_s();
    for (uint64_t i = 0; i < chunk; ++i) {
      auto span = ring.producer.try_reserve(size);
      if (!span) span = ring.producer.reserve(size, give_up);  // full: wait for the consumer
      if (!span) {
        state.SkipWithError("reserve failed");
        break;
      }
      std::memcpy(span->data(), source.data(), size);
      ring.producer.stage(size);
      if ((i + 1) % batch == 0) ring.producer.publish();
    }
    ring.producer.publish();
    produced += chunk;
    while (consumed.load(std::memory_order_acquire) < produced) cpu_relax();  // drained: all delivered
    const double dt = now_s() - t0;
    state.SetIterationTime(dt);
    seconds += dt;

    // The floor: the same blocks, no ring.
    switch_phase(kFloorPhase);
    t0 = now_s();
    uint64_t acked = floor.acked.load(std::memory_order_acquire);
    for (uint64_t i = 0; i < chunk; ++i) {
      const uint64_t g = floor_sent + i;
      while (g - acked >= floor.slots) {
        cpu_relax();
        acked = floor.acked.load(std::memory_order_acquire);
      }
      std::memcpy(floor.buffer.data() + (g % floor.slots) * floor.slot, source.data(), size);
      if ((i + 1) % batch == 0) floor.published.store(g + 1, std::memory_order_release);
    }
    floor_sent += chunk;
    floor.published.store(floor_sent, std::memory_order_release);
    while (floor.acked.load(std::memory_order_acquire) < floor_sent) cpu_relax();
    floor_seconds += now_s() - t0;
  }
  switch_phase(kQuit);
  consumer.join();

  state.counters["records_per_s"] = double(produced) / seconds;
  state.counters["bytes_per_s"] = double(produced * size) / seconds;
  state.counters["floor_records_per_s"] = double(floor_sent) / floor_seconds;
  state.counters["floor_bytes_per_s"] = double(floor_sent * size) / floor_seconds;
  state.counters["ring_over_floor"] = (double(produced) / seconds) / (double(floor_sent) / floor_seconds);
}
BENCHMARK(BM_RingThroughput)
    ->ArgNames({"bytes", "batch"})
    ->Args({64, 1})
    ->Args({64, 32})
    ->Args({4096, 1})
    ->Args({65536, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Baseline for the throughput figures: memcpy of the same block size by one
// thread, cycling through 1 MiB source and destination buffers (the ring's
// size), so the working set matches the ring's.
void BM_Memcpy(benchmark::State& state) {
  const size_t size = size_t(state.range(0));
  const uint64_t chunk = chunk_records(size);
  const size_t span = std::max<size_t>(kRing.capacity, size);
  std::vector<std::byte> src(span, std::byte{0x5a}), dst(span);
  PinScope pin(0);
  uint64_t copies = 0;
  double seconds = 0;
  size_t off = 0;
  for (auto _ : state) {
    const double t0 = now_s();
    for (uint64_t i = 0; i < chunk; ++i) {
      std::memcpy(dst.data() + off, src.data() + off, size);
      benchmark::DoNotOptimize(dst.data());
      off += size;
      if (off + size > span) off = 0;
    }
    const double dt = now_s() - t0;
    state.SetIterationTime(dt);
    seconds += dt;
    copies += chunk;
  }
  state.counters["records_per_s"] = double(copies) / seconds;
  state.counters["bytes_per_s"] = double(copies * size) / seconds;
  state.counters["record_bytes"] = double(size);
}
BENCHMARK(BM_Memcpy)->ArgName("bytes")->Arg(64)->Arg(4096)->Arg(65536)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---- cross-process ping-pong ------------------------------------------------------
//
// One forked child answers three protocols in turn, in blocks of
// kBlockRounds round trips: the ring (a 64 B record out on one ring, echoed
// back on the other), the raw floor (one shared atomic word bounced between
// the processes) and the two-line floor (each side stores to its own line
// and spins on the other's: what any design with one index per side, like
// the ring's, pays before it moves any data). Interleaving the blocks puts
// all three under the same conditions (the host moves vCPUs around), so
// their ratio means something even on a busy machine.

enum Protocol { kOverRing = 0, kRawWord = 1, kTwoLines = 2, kProtocols = 3 };
constexpr int kBlocks = 600;  // 200 blocks of each protocol
constexpr int kBlockRounds = 1000;
constexpr int kSkipRounds = 20;  // per block: the switch from the previous protocol
constexpr uint32_t kStopFlag = 1u << 16;

struct alignas(128) PingLines {
  uint64_t word;  // kRawWord
  uint8_t pad0[120];
  uint64_t line[2];  // kTwoLines: line[0] written by the parent...
  uint8_t pad1[112];
  uint64_t line1;  // ...and this one by the child
};

struct PingPongMemory {
  explicit PingPongMemory(uint64_t ring_mem) : ring_mem(ring_mem) {}
  uint64_t ring_mem;
  std::byte* rings = nullptr;  // two rings: parent -> child, child -> parent
  PingLines* lines = nullptr;
};

// The child's side of all three protocols, block by block.
[[noreturn]] void ping_pong_child(const PingPongMemory& m) {
  pin_to(1);
  const Deadline give_up = Deadline::after_ms(kGiveUpMs);
  auto in = RingConsumer::attach(m.rings, m.ring_mem);
  auto out = RingProducer::attach(m.rings + m.ring_mem, m.ring_mem);
  if (!in || !out) _exit(2);
  std::atomic_ref<uint64_t> word(m.lines->word), mine(m.lines->line1), theirs(m.lines->line[0]);
  uint64_t word_next = 1, line_next = 1;
  for (int block = 0; block < kBlocks; ++block) {
    for (int i = 0; i < kBlockRounds; ++i) {
      switch (Protocol(block % kProtocols)) {
        case kOverRing: {
          auto r = in->wait(give_up);
          if (!r) _exit(3);
          auto span = out->try_reserve(r->body.size());
          if (!span) span = out->reserve(r->body.size(), give_up);
          if (!span) _exit(4);
          std::memcpy(span->data(), r->body.data(), r->body.size());
          out->commit(r->body.size());
          in->pop(*r);
          break;
        }
        case kRawWord:
          while (word.load(std::memory_order_acquire) != word_next) cpu_relax();
          word.store(word_next + 1, std::memory_order_release);
          word_next += 2;
          break;
        case kTwoLines:
          while (theirs.load(std::memory_order_acquire) != line_next) cpu_relax();
          mine.store(line_next, std::memory_order_release);
          ++line_next;
          break;
        default:
          _exit(5);
      }
    }
  }
  _exit(0);
}

void add_percentiles(benchmark::State& state, const char* prefix, std::vector<uint64_t>& rtt) {
  if (rtt.empty()) return;
  std::sort(rtt.begin(), rtt.end());
  auto at = [&](double q) { return double(rtt[std::min(rtt.size() - 1, size_t(q * double(rtt.size())))]); };
  const std::string p(prefix);
  state.counters[p + "_p50_ns"] = at(0.50);
  state.counters[p + "_p99_ns"] = at(0.99);
  if (p == "ring") {
    state.counters[p + "_p90_ns"] = at(0.90);
    state.counters[p + "_p999_ns"] = at(0.999);
    state.counters[p + "_min_ns"] = double(rtt.front());
  }
}

void BM_PingPong64(benchmark::State& state) {
  const uint64_t ring_mem = ring_bytes(kRing.capacity);
  auto seg = Segment::create(4096 + 2 * ring_mem + sizeof(PingLines));
  if (!seg) {
    state.SkipWithError("segment");
    return;
  }
  seg->unlink();  // the mapping is inherited across fork; no name needed
  PingPongMemory m(ring_mem);
  m.rings = static_cast<std::byte*>(seg->data()) + 4096;
  m.lines = reinterpret_cast<PingLines*>(m.rings + 2 * ring_mem);
  format_ring(m.rings, kRing);
  format_ring(m.rings + ring_mem, kRing);

  const pid_t child = start_on_cpu(1, [] { return fork(); });
  if (child == 0) ping_pong_child(m);
  PinScope pin(0);
  const Deadline give_up = Deadline::after_ms(kGiveUpMs);
  auto out = RingProducer::attach(m.rings, ring_mem).value();
  auto in = RingConsumer::attach(m.rings + ring_mem, ring_mem).value();
  std::atomic_ref<uint64_t> word(m.lines->word), mine(m.lines->line[0]), theirs(m.lines->line1);
  uint64_t word_next = 1, line_next = 1;
  std::byte message[64];
  std::memset(message, 0x42, sizeof message);

  std::vector<uint64_t> rtt[kProtocols];
  for (auto& v : rtt) v.reserve(size_t(kBlocks / kProtocols) * kBlockRounds);
  bool failed = false;
  for (auto _ : state) {
    for (int block = 0; block < kBlocks && !failed; ++block) {
      const Protocol proto = Protocol(block % kProtocols);
      for (int i = 0; i < kBlockRounds; ++i) {
        const uint64_t t0 = now_ns();
        switch (proto) {
          case kOverRing: {
            auto span = out.try_reserve(sizeof message);
            if (!span) span = out.reserve(sizeof message, give_up);
            if (!span) break;
            std::memcpy(span->data(), message, sizeof message);
            out.commit(sizeof message);
            auto r = in.wait(give_up);
            if (!r || r->body.size() != sizeof message) {
              failed = true;
              break;
            }
            benchmark::DoNotOptimize(r->body[63]);
            in.pop(*r);
            break;
          }
          case kRawWord:
            word.store(word_next, std::memory_order_release);
            while (word.load(std::memory_order_acquire) != word_next + 1) cpu_relax();
            word_next += 2;
            break;
          case kTwoLines:
            mine.store(line_next, std::memory_order_release);
            while (theirs.load(std::memory_order_acquire) != line_next) cpu_relax();
            ++line_next;
            break;
          default:
            break;
        }
        if (i >= kSkipRounds) rtt[proto].push_back(now_ns() - t0);
      }
    }
  }
  if (failed) {
    kill(child, SIGKILL);
    state.SkipWithError("ring round trip failed");
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!failed && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) state.SkipWithError("ping-pong child failed");
  add_percentiles(state, "ring", rtt[kOverRing]);
  add_percentiles(state, "raw_word", rtt[kRawWord]);
  add_percentiles(state, "two_lines", rtt[kTwoLines]);
  if (!rtt[kOverRing].empty() && !rtt[kRawWord].empty())
    state.counters["ring_over_raw_p50"] = state.counters["ring_p50_ns"] / state.counters["raw_word_p50_ns"];
  if (!rtt[kOverRing].empty() && !rtt[kTwoLines].empty())
    state.counters["ring_over_two_lines_p50"] = state.counters["ring_p50_ns"] / state.counters["two_lines_p50_ns"];
}
// One iteration runs every block; the counters carry the figures.
BENCHMARK(BM_PingPong64)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
