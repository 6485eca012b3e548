// The RINGKERNEL_CALL_TRACE build's hooks (call_trace.h). One caller thread
// is the case it is for: the slots are claimed by an atomic index, so more
// threads do no harm, but their entries interleave.
#include "capi/call_trace.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "shm/clock.h"

namespace rk::capi::call_trace {
namespace {

struct Entry {
  uint64_t enter_ns, written_ns, published_ns, drained_ns, replied_ns;
  uint64_t record;  // the request record's address: its page and line
  uint64_t cpu;
};
static_assert(sizeof(Entry) == 56);  // bench/call_trace.py reads this layout

constexpr size_t kEntries = size_t(1) << 20;

class Log {
 public:
  Log() : dir_(std::getenv("RK_CALL_TRACE_DIR") ? std::getenv("RK_CALL_TRACE_DIR") : "") {
    if (!dir_.empty()) entries_.resize(kEntries);
  }
  ~Log() { write(); }
  Entry* current() { return on() ? &entries_[count_.load(std::memory_order_relaxed) % kEntries] : nullptr; }
  void next() { count_.fetch_add(1, std::memory_order_relaxed); }
  bool on() const { return !entries_.empty(); }

 private:
  void write() {
    const size_t n = std::min<size_t>(count_.load(), kEntries);
    if (!on() || n == 0) return;
    const std::string path = dir_ + "/call-" + std::to_string(getpid()) + ".bin";
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(entries_.data(), sizeof(Entry), n, f);
      std::fclose(f);
    }
  }
  std::string dir_;
  std::vector<Entry> entries_;
  std::atomic<size_t> count_{0};
};

Log& log() {
  static Log l;
  return l;
}

}  // namespace

void enter() {
  if (Entry* e = log().current()) *e = Entry{monotonic_ns(), 0, 0, 0, 0, 0, uint64_t(sched_getcpu())};
}

void written() {
  if (Entry* e = log().current()) e->written_ns = monotonic_ns();
}

void published(uintptr_t record) {
  if (Entry* e = log().current()) {
    e->published_ns = monotonic_ns();
    e->record = record;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    e->drained_ns = monotonic_ns();
  }
}

void replied() {
  if (Entry* e = log().current()) {
    e->replied_ns = monotonic_ns();
    log().next();
  }
}

}  // namespace rk::capi::call_trace
