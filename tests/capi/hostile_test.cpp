// Hostile peers. A client that writes garbage into its own rings (impossible
// lengths and flags, indices moved backwards or past the capacity, records
// torn across the published tail) loses its session, and the server and
// every other session keep working. A client that truncates its session
// segment cannot take the daemon down with SIGBUS. A client process that
// never reads its replies holds back only its own channel of a shared
// kernel. The hostile client here speaks the control protocol itself
// (RawControl) and writes the rings through its own mapping.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <ostream>
#include <string>

#include "rk_schema/control.capnp.h"
#include "shm/doorbell.h"
#include "shm/envelope.h"
#include "shm/ring.h"
#include "shm/segment.h"
#include "shm/segment_layout.h"
#include "tests/capi/capi_test.h"
#include "tests/capi/hand_session.h"
#include "tests/capi/raw_control.h"

namespace rk::test {
namespace {

struct Garbage {
  const char* name;
  std::function<void(HandSession&)> write;
};
// For test listings: the kind of garbage, not the struct's bytes.
void PrintTo(const Garbage& g, std::ostream* os) { *os << g.name; }

void put_header(std::byte* at, uint32_t length, uint32_t flags) {
  shm::RecordHeader r{length, flags};
  std::memcpy(at, &r, sizeof r);
}

const Garbage kGarbage[] = {
    {"TailBeyondCapacity", [](HandSession& s) { store_tail(s.requests(), s.requests()->capacity * 3 + 8); }},
    {"TailMovedBackwards",
     [](HandSession& s) {
       // A valid record first, consumed by the kernel; then the tail goes back.
       s.send_valid(1);
       eventually([&] { return std::atomic_ref<uint64_t>(s.requests()->head).load() != 0; }, 5s);
       store_tail(s.requests(), std::atomic_ref<uint64_t>(s.requests()->head).load() - 16);
     }},
    {"LengthBeyondMaxRecord",
     [](HandSession& s) {
       put_header(s.request_buffer(), 1u << 30, 0);
       store_tail(s.requests(), 64);
     }},
    {"RecordTornAcrossTheTail",
     [](HandSession& s) {
       put_header(s.request_buffer(), 200, 0);  // 208 bytes, only 64 published
       store_tail(s.requests(), 64);
     }},
    {"ReservedFlagBits",
     [](HandSession& s) {
       put_header(s.request_buffer(), 8, 1u << 5);
       store_tail(s.requests(), 16);
     }},
    {"PaddingInTheMiddle",
     [](HandSession& s) {
       put_header(s.request_buffer(), 8, shm::kRecordPadding);
       store_tail(s.requests(), 16);
     }},
    {"UnalignedTail", [](HandSession& s) { store_tail(s.requests(), 13); }},
    {"ReplyHeadBeyondTheTail",
     [](HandSession& s) {
       std::atomic_ref<uint64_t>(s.replies()->head).store(uint64_t(1) << 40, std::memory_order_release);
       // The kernel rereads the head when its cached view says the reply
       // ring is full: send until then (or until the session is gone).
       for (uint64_t i = 0; i < 100000 && s.send_valid(i);) ++i;
     }},
};

class CapiHostile : public ::testing::TestWithParam<Garbage> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.started()) << daemon_.error();
    good_ = connect_to(daemon_);
    ASSERT_TRUE(good_);
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.instance_name = "victim-of-garbage";
    o.ring_bytes = 65536;
    shared_ = launch(good_.get(), "echo", &o);
    ASSERT_TRUE(shared_);
    RK_ASSERT_OK(rk_activate(shared_.get()));
  }
  void expect_serving() {
    for (int i = 0; i < 50; ++i) {
      rk_message* reply = nullptr;
      rk_status s = rk_call(shared_.get(), 1, &i, sizeof i, &reply, 10000);
      ASSERT_EQ(s, RK_OK) << "call " << i << ": " << why(s);
      EXPECT_EQ(bytes_of(reply).size(), sizeof i);
      rk_message_release(reply);
    }
  }
  Daemon daemon_;
  ClientPtr good_;
  KernelPtr shared_;
};

TEST_P(CapiHostile, GarbageInOwnRings_SessionClosedOthersKeepWorking) {
  HandSession bad(daemon_);
  ASSERT_EQ(bad.open("victim-of-garbage"), "");
  ASSERT_TRUE(eventually([&] { return metrics(shared_.get()).channels == 2; }));
  expect_serving();

  GetParam().write(bad);
  bad.ring_kernel();

  EXPECT_TRUE(bad.raw().hung_up(20000)) << "the hostile session was not closed; log:\n" << daemon_.log_tail();
  EXPECT_NE(daemon_.log_tail().find("corrupted its rings"), std::string::npos) << daemon_.log_tail();
  ASSERT_TRUE(daemon_.process().running()) << daemon_.log_tail();
  EXPECT_TRUE(eventually([&] { return metrics(shared_.get()).channels == 1; })) << "its channel is still bound";
  EXPECT_TRUE(eventually([&] { return server_info(good_.get()).sessions == 1; }));
  expect_serving();
  // And a new session starts as usual.
  ClientPtr fresh = connect_to(daemon_);
  ASSERT_TRUE(fresh);
  rk_kernel* k = nullptr;
  RK_ASSERT_OK(rk_attach(fresh.get(), "victim-of-garbage", &k));
  KernelPtr owned(k);
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(k, 1, "x", 1, &reply, 10000));
  rk_message_release(reply);
}

INSTANTIATE_TEST_SUITE_P(Rings, CapiHostile, ::testing::ValuesIn(kGarbage),
                         [](const ::testing::TestParamInfo<Garbage>& p) { return std::string(p.param.name); });

TEST(CapiHostileSegment, ClientTruncatesItsSegment_RefusedAndTheServerLivesOn) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr good = connect_to(daemon);
  ASSERT_TRUE(good);
  KernelPtr shared = launch_shared_active(good.get(), "echo", "shared");
  ASSERT_TRUE(shared);

  HandSession bad(daemon);
  ASSERT_EQ(bad.open("shared"), "");
  // The segment's size is sealed: shrinking (or growing) it is refused.
  EXPECT_NE(::ftruncate(bad.segment_fd(), 0), 0) << "the segment could be truncated under the daemon";
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::ftruncate(bad.segment_fd(), 4096), 0);
  EXPECT_NE(::ftruncate(bad.segment_fd(), off_t(1) << 40), 0) << "grown";

  // The daemon touches the session's memory again (a request, new rings): no SIGBUS.
  ASSERT_TRUE(bad.send_valid(9));
  capnp::MallocMessageBuilder m;
  auto l = m.initRoot<rk::schema::Request>().initLaunch();
  l.setKernel("echo");
  l.setRingBytes(65536);
  ASSERT_EQ(bad.raw().exchange(m), Errc::ok);
  EXPECT_EQ(bad.raw().reply().getStatus(), 0u) << bad.raw().reply().getMessage().cStr();
  ASSERT_TRUE(daemon.process().running()) << "the daemon died: " << daemon.log_tail();
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(shared.get(), 1, "still here", 10, &reply, 10000));
  rk_message_release(reply);
}

TEST(CapiHostileSegment, PunchedHoles_OnlyZeroTheClientsOwnRings) {
  // The one thing a client can do to its sealed memfd is punch holes (read
  // back as zeros): that is writing garbage into its own rings, nothing more.
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr good = connect_to(daemon);
  ASSERT_TRUE(good);
  KernelPtr shared = launch_shared_active(good.get(), "echo", "shared");
  ASSERT_TRUE(shared);
  HandSession bad(daemon);
  ASSERT_EQ(bad.open("shared"), "");
  ASSERT_TRUE(bad.send_valid(3));
  ASSERT_TRUE(eventually([&] { return std::atomic_ref<uint64_t>(bad.requests()->head).load() != 0; }, 10s));
  ASSERT_EQ(::fallocate(bad.segment_fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 64 << 20), 0);
  bad.ring_kernel();
  // Its indices went back to zero: a broken ring, so its session ends.
  EXPECT_TRUE(bad.raw().hung_up(20000)) << daemon.log_tail();
  ASSERT_TRUE(daemon.process().running()) << daemon.log_tail();
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(shared.get(), 1, "ok", 2, &reply, 10000));
  rk_message_release(reply);
}

TEST(CapiHostileReader, ProcessThatNeverReads_HoldsBackOnlyItsOwnChannel) {
  Daemon daemon;
  ASSERT_TRUE(daemon.started()) << daemon.error();
  ClientPtr good = connect_to(daemon);
  ASSERT_TRUE(good);
  KernelPtr shared = launch_shared_active(good.get(), "echo", "busy", 65536);
  ASSERT_TRUE(shared);

  Process::Options po;
  po.pipe_stdout = true;
  po.pipe_stdin = true;
  Process hog(client_binary(), {"never-read", daemon.socket_path(), "busy"}, po);
  ASSERT_EQ(hog.read_line(30s).value_or("(nothing)"), "full") << daemon.log_tail();
  // Its requests wait in its ring (nothing dropped), its replies fill its ring.
  rk_metrics before = metrics(shared.get());
  EXPECT_GT(before.queue_depth, 0u) << "the hog's requests should be held back, not consumed";

  // Everyone else on the same kernel keeps flowing, in another process too.
  for (int i = 0; i < 200; ++i) {
    rk_message* reply = nullptr;
    rk_status s = rk_call(shared.get(), 1, &i, sizeof i, &reply, 10000);
    ASSERT_EQ(s, RK_OK) << "call " << i << " beside a channel that never reads: " << why(s);
    rk_message_release(reply);
  }
  Process other(client_binary(), {"attach-and-call", daemon.socket_path(), "busy", "200"}, po);
  ASSERT_EQ(other.read_line(20s).value_or("(nothing)"), "attached");
  ASSERT_TRUE(other.write_stdin("go\n"));
  EXPECT_EQ(other.read_line(30s).value_or("(nothing)"), "ok 200");
  rk_metrics after = metrics(shared.get());
  EXPECT_EQ(after.dropped, 0u);
  EXPECT_GE(after.processed, before.processed + 400);
  EXPECT_TRUE(hog.running()) << "the hog was not harmed either";
  ASSERT_TRUE(hog.write_stdin("bye\n"));
  EXPECT_TRUE(hog.wait_exit(20s));
}

}  // namespace
}  // namespace rk::test
