// Fuzz target: what libringkernel reads from the daemon. The input is a
// control reply packet (to server info, metrics, launch: the Bound reply
// and the channel it names) and the bytes of the channel's reply ring as a
// kernel would have written them. The library's own code parses it all:
// ControlCall over a real SOCK_SEQPACKET socket (the fake daemon queues its
// reply before the call), bind_kernel over a formatted session segment, and
// rk_receive / rk_message_* / rk_message_release over the reply ring.
// Whatever the bytes: a status code, no crash, no read outside the segment.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "capi/client.h"
#include "capi/kernel.h"
#include "fuzz_input.h"
#include "ringkernel/ringkernel.h"
#include "schema/packet_io.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/segment_layout.h"

namespace {

[[noreturn]] void die(const char* why) {
  fprintf(stderr, "fuzz_client_reply: %s\n", why);
  abort();
}

constexpr uint32_t kChannels = 4;
constexpr uint64_t kRingCapacity = 4096;

// A session segment as the daemon lays it out: header, slots, and for each
// slot a request ring and a reply ring.
rk::shm::Segment make_segment() {
  using namespace rk::shm;
  const uint64_t one = (ring_bytes(kRingCapacity) + kSegmentPage - 1) & ~(kSegmentPage - 1);
  const uint64_t data_offset = kSegmentPage;
  auto seg = Segment::create_sealed(data_offset + kChannels * 2 * one);
  if (!seg) die("segment");
  auto* base = static_cast<std::byte*>(seg->data());
  auto* h = reinterpret_cast<SegmentHeader*>(base);
  h->max_channels = kChannels;
  h->slots_offset = sizeof(SegmentHeader);
  h->data_offset = data_offset;
  for (uint32_t i = 0; i < kChannels; ++i) {
    auto* s = reinterpret_cast<ChannelSlot*>(base + h->slots_offset) + i;
    s->state = kSlotBound;
    s->instance_id = i + 1;
    s->request_offset = data_offset + i * 2 * one;
    s->reply_offset = s->request_offset + one;
    s->ring_bytes = one;
    if (format_ring(base + s->request_offset, RingConfig{kRingCapacity, 1024}) != rk::Errc::ok ||
        format_ring(base + s->reply_offset, RingConfig{kRingCapacity, 1024}) != rk::Errc::ok)
      die("format");
  }
  return std::move(*seg);
}

// A client connected to nothing but `peer`, where the test plays the daemon.
rk_client* make_client(int fd) {
  auto* c = new rk_client();
  c->fd = fd;
  c->watcher_wake = eventfd(0, EFD_CLOEXEC);
  c->socket_path = "(fuzz)";
  c->segment = make_segment();
  return c;
}

void queue_reply(int peer, std::span<const uint8_t> packet, int fd = -1) {
  (void)rk::wire::send_packet(peer, packet.data(), packet.size(), fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rk;
  fuzz::Input in(data, size);
  const uint8_t op = in.take<uint8_t>();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  rk_client* c = make_client(sv[0]);

  switch (op % 3) {
    case 0: {  // serverInfo
      queue_reply(sv[1], in.chunk());
      rk_server_info info;
      rk_server_info_init(&info);
      (void)rk_server_info_get(c, &info);
      break;
    }
    case 1:
    case 2: {  // launch (or attach): Bound + the bell, then replies in the ring
      auto bell = shm::Segment::create_sealed(shm::kKernelBellBytes);
      if (!bell) die("bell");
      queue_reply(sv[1], in.chunk(), (op & 4) ? -1 : bell->fd());
      rk_kernel* k = nullptr;
      rk_status s = op % 3 == 1 ? rk_launch(c, "echo", nullptr, &k) : rk_attach(c, "shared", &k);
      if (s != RK_OK) break;
      // The kernel's side: raw bytes and a tail in the reply ring it was given.
      auto* base = static_cast<std::byte*>(c->segment.data());
      const shm::ChannelSlot slot = *k->slot;
      auto* ring = reinterpret_cast<shm::RingHeader*>(base + slot.reply_offset);
      auto body = in.bytes(kRingCapacity);
      std::memcpy(reinterpret_cast<std::byte*>(ring + 1), body.data(), body.size());
      ring->tail = in.take<uint64_t>();
      for (int i = 0; i < 64; ++i) {
        rk_message* m = nullptr;
        // An error reply comes with its status and is still handed out.
        const rk_status got = rk_receive(k, &m, 0);
        if (!m) break;
        if (got != RK_OK && got != rk_message_status(m)) die("status differs from the reply's");
        size_t len = 0;
        const void* p = rk_message_data(m, &len);
        if (len && (static_cast<const std::byte*>(p) < base ||
                    static_cast<const std::byte*>(p) + len > base + c->segment.size()))
          die("message data outside the segment");
        (void)rk_message_capnp(m, &len);
        (void)rk_message_type(m);
        (void)rk_message_status(m);
        (void)rk_message_correlation(m);
        rk_message_release(m);
      }
      queue_reply(sv[1], in.chunk());
      rk_metrics metrics;
      rk_metrics_init(&metrics);
      (void)rk_kernel_metrics(k, &metrics);
      shutdown(sv[1], SHUT_RDWR);  // the release below gets a hang-up, not a wait
      rk_kernel_release(k);
      break;
    }
  }
  close(sv[1]);
  capi::disconnect_client(c);
  return 0;
}
