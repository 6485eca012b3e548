// rk_shm_peer: the other process of the shm integration tests.
//
//   rk_shm_peer stream <name> <records> <seed>
//       Opens segment <name>, unlinks it, then receives the forward stream on
//       ring 0 and sends the backward stream on ring 1 at the same time.
//       Reports checksums in the control block; exit 0 if all was correct.
//   rk_shm_peer consume <name> <seed>
//       Opens and unlinks <name>, then receives the forward stream without
//       end, publishing progress, until it is killed.
//   rk_shm_peer create-and-stream <records> <seed>
//       Creates a stream segment, prints its name, waits for an opener, then
//       plays the creator's side. Prints "streaming" once 1000 records have
//       arrived and "done" at the end.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "tests/shm/stream_protocol.h"

using namespace rk;
using namespace rk::shm;
using namespace rk::shm::test;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "rk_shm_peer: %s\n", what.c_str());
  return 1;
}

uint64_t number(const char* s) { return std::strtoull(s, nullptr, 10); }

Result<Segment> open_and_unlink(const std::string& name) {
  auto seg = Segment::open(name);
  if (!seg) return seg;
  // The name has done its job; from here a crash of either side leaves nothing behind.
  if (Errc e = seg->unlink(); e != Errc::ok) return e;
  return seg;
}

int run_stream(const std::string& name, uint64_t records, uint64_t seed) {
  auto seg = open_and_unlink(name);
  if (!seg) return fail("open " + name + ": " + errc_string(seg.error()));
  auto rx = RingConsumer::attach(ring_memory(*seg, 0), kRingStride);
  auto tx = RingProducer::attach(ring_memory(*seg, 1), kRingStride);
  if (!rx || !tx) return fail("attach failed");
  PeerControl* control = control_of(*seg);
  store(control->attached, 1);

  StreamResult sent;
  std::thread sender([&] { sent = send_stream(*tx, backward_seed(seed), records); });
  StreamResult got = receive_stream(*rx, forward_seed(seed), records, &control->received);
  sender.join();

  store(control->rx_checksum, got.checksum);
  store(control->tx_checksum, sent.checksum);
  const bool ok = got.error.empty() && sent.error.empty();
  store(control->finished, ok ? 1 : 2);
  if (!got.error.empty()) return fail(got.error);
  if (!sent.error.empty()) return fail(sent.error);
  return 0;
}

int run_consume(const std::string& name, uint64_t seed) {
  auto seg = open_and_unlink(name);
  if (!seg) return fail("open " + name + ": " + errc_string(seg.error()));
  auto rx = RingConsumer::attach(ring_memory(*seg, 0), kRingStride);
  if (!rx) return fail("attach failed");
  PeerControl* control = control_of(*seg);
  store(control->attached, 1);
  StreamResult got = receive_stream(*rx, forward_seed(seed), UINT64_MAX, &control->received);
  return fail(got.error.empty() ? "stream ended" : got.error);
}

int run_create_and_stream(uint64_t records, uint64_t seed) {
  auto seg = create_stream_segment();
  if (!seg) return fail(std::string("create: ") + errc_string(seg.error()));
  std::printf("%s\n", seg->name().c_str());
  std::fflush(stdout);

  PeerControl* control = control_of(*seg);
  const Deadline give_up = Deadline::after_ms(kStreamWaitMs);
  while (load(control->attached) == 0) {
    if (give_up.passed()) return fail("no opener came");
    usleep(1000);
  }
  auto tx = RingProducer::attach(ring_memory(*seg, 0), kRingStride);
  auto rx = RingConsumer::attach(ring_memory(*seg, 1), kRingStride);
  if (!rx || !tx) return fail("attach failed");

  StreamResult sent, got;
  uint64_t progress = 0;
  std::thread sender([&] { sent = send_stream(*tx, forward_seed(seed), records); });
  std::thread receiver([&] { got = receive_stream(*rx, backward_seed(seed), records, &progress); });
  bool announced = false;
  while (!announced && load(progress) < records) {
    if (load(progress) >= 1000 || load(progress) == records) {
      std::printf("streaming\n");
      std::fflush(stdout);
      announced = true;
    }
    usleep(1000);
  }
  receiver.join();
  sender.join();
  if (!got.error.empty()) return fail(got.error);
  if (!sent.error.empty()) return fail(sent.error);
  std::printf("done\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "stream" && argc == 5) return run_stream(argv[2], number(argv[3]), number(argv[4]));
  if (mode == "consume" && argc == 4) return run_consume(argv[2], number(argv[3]));
  if (mode == "create-and-stream" && argc == 4) return run_create_and_stream(number(argv[2]), number(argv[3]));
  std::fprintf(stderr,
               "usage: rk_shm_peer stream <name> <records> <seed>\n"
               "       rk_shm_peer consume <name> <seed>\n"
               "       rk_shm_peer create-and-stream <records> <seed>\n");
  return 2;
}
