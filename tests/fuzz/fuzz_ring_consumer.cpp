// Fuzz target: ring memory written by a hostile peer. The input supplies
// the ring header (indices, and sometimes line 0 itself) and the buffer
// bytes; a RingConsumer attaches and reads every record it accepts, each
// body goes through the envelope reader and the CPU backend's dispatch (the
// daemon's data-plane request decoding), and a RingProducer attached to the
// same memory reserves and commits against the peer's head. The ring lives
// in a heap block of exactly its size, so ASan sees any read outside it.
// Invariants checked: accepted records lie inside the buffer and below the
// published tail; reservations lie inside the buffer.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_input.h"
#include "kernels/registry.h"
#include "server/cpu/dispatch.h"
#include "shm/envelope.h"
#include "shm/ring.h"

namespace {

[[noreturn]] void die(const char* why) {
  fprintf(stderr, "fuzz_ring_consumer: %s\n", why);
  abort();
}

constexpr uint64_t kCapacity = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rk;
  using namespace rk::shm;
  fuzz::Input in(data, size);
  const uint8_t mode = in.take<uint8_t>();
  const uint64_t bytes = ring_bytes(kCapacity);
  // 128-aligned memory of exactly the ring's size (a multiple of 128).
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte[], Free> memory(static_cast<std::byte*>(std::aligned_alloc(kRingLine, bytes)));
  std::memset(memory.get(), 0, bytes);
  if (format_ring(memory.get(), RingConfig{kCapacity, 1024}) != Errc::ok) die("format");
  auto* h = reinterpret_cast<RingHeader*>(memory.get());
  if (mode & 1) {  // a hostile creator: line 0 from the input too
    h->capacity = in.take<uint64_t>();
    h->max_record = in.take<uint32_t>();
    if (mode & 2) h->magic = in.take<uint32_t>();
  }
  h->head = in.take<uint64_t>();
  h->tail = in.take<uint64_t>();
  auto body = in.rest();
  std::memcpy(memory.get() + sizeof(RingHeader), body.data(), std::min<size_t>(body.size(), kCapacity));

  const std::byte* buf_begin = memory.get() + sizeof(RingHeader);
  const std::byte* buf_end = memory.get() + bytes;
  const KernelDef& echo = builtin_kernels()[0];
  std::vector<std::byte> reply(1024 + 64);

  if (auto c = RingConsumer::attach(memory.get(), bytes)) {
    const uint64_t tail = h->tail;
    for (int i = 0; i < 1024; ++i) {
      auto r = c->peek();
      if (!r) break;  // empty or corrupt: both are answers
      if (r->body.data() < buf_begin || r->body.data() + r->body.size() > buf_end) die("record outside the buffer");
      if (r->end - r->pos > kCapacity || int64_t(tail - r->end) < 0) die("record beyond the published tail");
      (void)read_envelope(r->body);
      (void)server::cpu::dispatch(echo, 1, {}, r->body, reply);
      c->advance(*r);
      if (mode & 4) c->release();
    }
    (void)c->unread_bytes();
    c->release();
  }
  if (auto p = RingProducer::attach(memory.get(), bytes)) {
    for (size_t n : {size_t(0), size_t(13), size_t(512), size_t(1024), size_t(4000)}) {
      auto room = p->try_reserve(n);
      if (!room) continue;
      if (room->data() < buf_begin || room->data() + room->size() > buf_end) die("reservation outside the buffer");
      std::memset(room->data(), 0x5a, room->size());
      p->commit(room->size());
    }
    (void)p->free_bytes();
    (void)p->would_fit(100);
  }
  return 0;
}
