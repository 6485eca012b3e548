// Real processes sharing a segment: a two-way stream of 2 M records each
// way, a consumer killed mid-stream, and /dev/shm left clean after normal
// exits and after SIGKILL. The other process is rk_shm_peer (fork + exec).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/shm/stream_protocol.h"

namespace rk::shm {
namespace {

using namespace rk::shm::test;

bool shm_exists(const std::string& name) {
  struct stat st;
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

// A child process running rk_shm_peer; SIGKILLed and reaped if the test
// leaves it behind.
class Peer {
 public:
  explicit Peer(std::vector<std::string> args, bool capture_stdout = false) {
    const std::string path = std::string(RK_BIN_DIR) + "/rk_shm_peer";
    args.insert(args.begin(), path);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2] = {-1, -1};
    if (capture_stdout && ::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      if (capture_stdout) {
        ::dup2(out[1], STDOUT_FILENO);
        ::close(out[0]);
        ::close(out[1]);
      }
      ::execv(path.c_str(), argv.data());
      ::_exit(127);
    }
    if (capture_stdout) {
      ::close(out[1]);
      stdout_ = out[0];
    }
  }
  ~Peer() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (reaped_) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = status;
      return false;
    }
    return true;
  }
  // Waits for the exit; SIGKILLs and returns -1 after `timeout_ms`.
  int wait(int64_t timeout_ms) {
    const Deadline deadline = Deadline::after_ms(timeout_ms);
    while (running()) {
      if (deadline.passed()) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        reaped_ = true;
        return -1;
      }
      ::usleep(2000);
    }
    return status_;
  }
  void kill_now() {
    ::kill(pid_, SIGKILL);
    if (!reaped_) ::waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  int status() const { return status_; }
  // One line of the child's stdout, without the newline; empty on timeout or EOF.
  std::string read_line(int64_t timeout_ms) {
    const Deadline deadline = Deadline::after_ms(timeout_ms);
    for (;;) {
      if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
        std::string line = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        return line;
      }
      pollfd p{stdout_, POLLIN, 0};
      const int wait_ms = int(deadline.remaining_ns() / 1000000);
      if (wait_ms <= 0 || ::poll(&p, 1, wait_ms) <= 0) return {};
      char buf[256];
      ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) return {};
      buffered_.append(buf, size_t(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string buffered_;
};

bool exited_ok(int status) { return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
bool killed_by_sigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

// Waits for the opener to say it has mapped (and unlinked) the segment.
bool wait_attached(const Segment& seg, Peer& peer) {
  const Deadline deadline = Deadline::after_ms(30000);
  while (load(control_of(seg)->attached) == 0) {
    if (deadline.passed() || !peer.running()) return false;
    ::usleep(1000);
  }
  return true;
}

TEST(ShmProcesses, TwoWayStreamOfTwoMillionRecords_NoneLostReorderedOrCorrupted) {
  constexpr uint64_t kRecords = 2'000'000;
  constexpr uint64_t kSeed = 20251;
  auto seg = create_stream_segment();
  ASSERT_TRUE(seg.ok()) << errc_string(seg.error());
  const std::string name = seg->name();
  ASSERT_TRUE(shm_exists(name));

  Peer peer({"stream", name, std::to_string(kRecords), std::to_string(kSeed)});
  ASSERT_TRUE(wait_attached(*seg, peer));
  EXPECT_FALSE(shm_exists(name)) << "the opener unlinks the name as soon as it has mapped it";

  auto tx = RingProducer::attach(ring_memory(*seg, 0), kRingStride);
  auto rx = RingConsumer::attach(ring_memory(*seg, 1), kRingStride);
  ASSERT_TRUE(tx.ok() && rx.ok());
  StreamResult sent;
  std::thread sender([&] { sent = send_stream(*tx, forward_seed(kSeed), kRecords); });
  StreamResult got = receive_stream(*rx, backward_seed(kSeed), kRecords);
  sender.join();
  const int status = peer.wait(120000);

  EXPECT_TRUE(exited_ok(status)) << "peer status " << status;
  EXPECT_EQ(sent.error, "");
  EXPECT_EQ(got.error, "");
  EXPECT_EQ(sent.records, kRecords);
  EXPECT_EQ(got.records, kRecords);
  PeerControl* control = control_of(*seg);
  EXPECT_EQ(load(control->finished), 1u);
  EXPECT_EQ(load(control->received), kRecords);
  EXPECT_EQ(load(control->rx_checksum), sent.checksum);  // what we sent is what it got
  EXPECT_EQ(load(control->tx_checksum), got.checksum);   // and the other way round
  EXPECT_EQ(rx->peek().error(), Errc::empty);             // nothing extra behind the last record
  seg.value() = Segment();                                // drop our mapping
  EXPECT_FALSE(shm_exists(name));
}

TEST(ShmProcesses, ConsumerKilledMidStream_BlockedReserveFailsAtItsDeadline) {
  constexpr uint64_t kSeed = 77;
  constexpr int64_t kReserveMs = 2000;
  auto seg = create_stream_segment();
  ASSERT_TRUE(seg.ok());
  const std::string name = seg->name();
  Peer consumer({"consume", name, std::to_string(kSeed)});
  ASSERT_TRUE(wait_attached(*seg, consumer));

  auto tx = RingProducer::attach(ring_memory(*seg, 0), kRingStride);
  ASSERT_TRUE(tx.ok());
  uint64_t sent = 0, checksum = 0, deadline_ns = 0, returned_ns = 0;
  Errc failure = Errc::ok;
  std::thread producer([&] {
    for (uint64_t seq = 0;; ++seq) {
      const size_t n = record_size(forward_seed(kSeed), seq);
      const Deadline deadline = Deadline::after_ms(kReserveMs);
      auto span = tx->reserve(n, deadline);
      if (!span) {
        failure = span.error();
        deadline_ns = deadline.at_ns();
        returned_ns = monotonic_ns();
        return;
      }
      fill_record(span->data(), n, forward_seed(kSeed), seq, checksum);
      tx->commit(n);
      sent = seq + 1;
    }
  });

  const Deadline patience = Deadline::after_ms(60000);
  while (load(control_of(*seg)->received) < 50000 && !patience.passed() && consumer.running()) ::usleep(1000);
  const uint64_t received_at_kill = load(control_of(*seg)->received);
  const uint64_t killed_ns = monotonic_ns();
  consumer.kill_now();
  producer.join();  // must come back by itself: no hang

  EXPECT_GE(received_at_kill, 50000u) << "the consumer was alive and reading before the kill";
  EXPECT_TRUE(killed_by_sigkill(consumer.status()));
  EXPECT_EQ(failure, Errc::queue_full) << errc_string(failure);
  EXPECT_GT(returned_ns, killed_ns) << "the producer failed while the consumer was still alive";
  EXPECT_GE(returned_ns, deadline_ns) << "reserve gave up before its deadline";
  EXPECT_GE(sent, received_at_kill);
  EXPECT_LT(tx->free_bytes(), record_bytes(kStreamRing.max_record) * 2);  // it stopped because the ring is full
  seg.value() = Segment();
  EXPECT_FALSE(shm_exists(name));
}

TEST(ShmProcesses, BothPeersExitNormally_NoSegmentLeftInDevShm) {
  Peer creator({"create-and-stream", "100000", "5"}, /*capture_stdout=*/true);
  const std::string name = creator.read_line(30000);
  ASSERT_EQ(name.substr(0, 3), "rk-") << "creator printed '" << name << "'";
  EXPECT_TRUE(shm_exists(name));  // the check below can see a segment that is there

  Peer opener({"stream", name, "100000", "5"});
  EXPECT_TRUE(exited_ok(opener.wait(120000)));
  EXPECT_TRUE(exited_ok(creator.wait(120000)));
  EXPECT_FALSE(shm_exists(name));
}

TEST(ShmProcesses, BothPeersSigkilledMidStream_NoSegmentLeftInDevShm) {
  Peer creator({"create-and-stream", "1000000000000", "6"}, /*capture_stdout=*/true);
  const std::string name = creator.read_line(30000);
  ASSERT_EQ(name.substr(0, 3), "rk-") << "creator printed '" << name << "'";

  Peer opener({"stream", name, "1000000000000", "6"});
  ASSERT_EQ(creator.read_line(30000), "streaming");
  EXPECT_TRUE(opener.running());
  creator.kill_now();
  opener.kill_now();

  EXPECT_TRUE(killed_by_sigkill(creator.status()));
  EXPECT_TRUE(killed_by_sigkill(opener.status()));
  EXPECT_FALSE(shm_exists(name));
}

}  // namespace
}  // namespace rk::shm
