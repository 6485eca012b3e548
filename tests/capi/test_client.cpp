// rk_test_client: the other process of the service tests, a plain user of
// libringkernel (C ABI only).
//
//   rk_test_client attach-and-call <socket> <instance> <n>
//       Connects, attaches to the shared instance, prints "attached", waits
//       for a line (or EOF) on stdin, then makes n rk_calls whose payloads
//       carry its pid and a sequence number, and checks that every reply is
//       its own. Prints "ok <n>"; exit 0 if all replies were right, else 1.
//   rk_test_client call-forever <socket> <kernel> [<shared-instance>]
//       Launches a private <kernel> (echo-like), activates it, optionally
//       attaches to a shared instance too, and calls in a loop with varying
//       sizes, leaving some replies unreleased. Prints "ready" after the
//       first round. Runs until killed (exit 1 on any error).
//   rk_test_client block-in-call <socket>
//       Launches an echo it never activates, prints "ready", and blocks in
//       rk_call with a 60 s timeout. Prints the status it got, e.g.
//       "RK_E_DISCONNECTED", and exits 0.
//   rk_test_client block-in-all <socket>
//       Blocks three threads at once, each with a 60 s timeout: one in
//       rk_call on a never-activated echo, one in rk_send on that echo's full
//       request ring, one in rk_receive on an active echo nobody sends to.
//       Prints "ready" once the ring is full, then "call <status>",
//       "send <status>" and "receive <status>" as each returns; exits 0.
//   rk_test_client victim <socket> <shared-instance> <reserve|call|blocked|attach>
//       A client to be SIGKILLed at a random point of one activity, repeated
//       forever: reserve (rk_reserve, fill the record slowly, rk_commit,
//       receive), call (rk_call), blocked (rk_call on a kernel never
//       activated, 60 s timeout), attach (attach the shared instance, call,
//       release it). Prints "ready" once the activity is under way.
//   rk_test_client call-until-stdin <socket> <shared-instance>
//       Calls its own echo and the shared instance in turn, checking that
//       every reply is its own, until a line (or EOF) arrives on stdin.
//       Prints "ready" after the first round, then "ok <n>" and exits 0, or
//       "error <what> <status>" and exits 1 at the first failure.
//   rk_test_client load-until-death <socket>
//       Calls an echo in a loop with a 60 s timeout per call; prints "ready"
//       after the first call and, when a call fails, its status; exits 0.
//   rk_test_client never-read <socket> <shared-instance>
//       Attaches the shared instance and sends to it without ever reading a
//       reply; prints "full" once a send finds the request ring full for
//       its whole (short) timeout, then waits for EOF on stdin.
#include <ringkernel/ringkernel.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* status_name(rk_status s) {
  switch (s) {
    case RK_OK: return "RK_OK";
    case RK_E_INVALID_ARGUMENT: return "RK_E_INVALID_ARGUMENT";
    case RK_E_NOT_FOUND: return "RK_E_NOT_FOUND";
    case RK_E_TIMEOUT: return "RK_E_TIMEOUT";
    case RK_E_QUEUE_FULL: return "RK_E_QUEUE_FULL";
    case RK_E_TOO_LARGE: return "RK_E_TOO_LARGE";
    case RK_E_DISCONNECTED: return "RK_E_DISCONNECTED";
    case RK_E_ABI_MISMATCH: return "RK_E_ABI_MISMATCH";
    case RK_E_PERMISSION: return "RK_E_PERMISSION";
    case RK_E_STATE: return "RK_E_STATE";
    case RK_E_MALFORMED: return "RK_E_MALFORMED";
    case RK_E_KERNEL_FAULTED: return "RK_E_KERNEL_FAULTED";
    case RK_E_NO_DEVICE: return "RK_E_NO_DEVICE";
    case RK_E_INTERNAL: return "RK_E_INTERNAL";
    case RK_E_CORRUPT: return "RK_E_CORRUPT";
    case RK_E_EMPTY: return "RK_E_EMPTY";
    case RK_E_LIMIT: return "RK_E_LIMIT";
  }
  return "RK_E_UNKNOWN";
}

int fail(const char* what, rk_status s) {
  std::fprintf(stderr, "rk_test_client[%d]: %s: %s (%s)\n", int(getpid()), what, status_name(s),
               rk_last_error_message());
  return 1;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "rk_test_client[%d]: %s\n", int(getpid()), what.c_str());
  return 1;
}

void say(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

// Payload: [u32 magic][u32 pid][u64 seq][seq % 61 filler bytes derived from both].
constexpr uint32_t kMagic = 0x52'4b'54'43;  // "RKTC"
constexpr uint32_t kType = 7;

std::vector<unsigned char> make_payload(uint32_t pid, uint64_t seq) {
  std::vector<unsigned char> p(16 + seq % 61);
  std::memcpy(p.data(), &kMagic, 4);
  std::memcpy(p.data() + 4, &pid, 4);
  std::memcpy(p.data() + 8, &seq, 8);
  for (size_t i = 16; i < p.size(); ++i) p[i] = static_cast<unsigned char>(pid * 31 + seq * 7 + i);
  return p;
}

int attach_and_call(const char* socket, const char* instance, uint64_t n) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_kernel* k = nullptr;
  if (rk_status s = rk_attach(c, instance, &k); s != RK_OK) return fail("attach", s);
  say("attached");
  // Wait for the go (a line, or EOF) so that all clients call at once.
  for (int ch = std::getchar(); ch != EOF && ch != '\n'; ch = std::getchar()) {
  }
  const uint32_t pid = uint32_t(getpid());
  int rc = 0;
  for (uint64_t seq = 0; seq < n && rc == 0; ++seq) {
    std::vector<unsigned char> p = make_payload(pid, seq);
    rk_message* reply = nullptr;
    rk_status s = rk_call(k, kType, p.data(), p.size(), &reply, 30000);
    if (s != RK_OK) {
      rc = fail("call", s);
    } else {
      size_t len = 0;
      const void* data = rk_message_data(reply, &len);
      if (rk_message_type(reply) != kType) rc = fail("reply has the wrong message type");
      else if (len != p.size() || std::memcmp(data, p.data(), len) != 0) {
        uint32_t other = 0;
        uint64_t other_seq = 0;
        if (len >= 16) {
          std::memcpy(&other, static_cast<const char*>(data) + 4, 4);
          std::memcpy(&other_seq, static_cast<const char*>(data) + 8, 8);
        }
        rc = fail("reply " + std::to_string(seq) + " is not ours: pid " + std::to_string(other) + " seq " +
                  std::to_string(other_seq) + ", " + std::to_string(len) + " bytes");
      }
    }
    rk_message_release(reply);
  }
  rk_kernel_release(k);
  rk_disconnect(c);
  if (rc == 0) {
    std::printf("ok %llu\n", static_cast<unsigned long long>(n));
    std::fflush(stdout);
  }
  return rc;
}

int call_forever(const char* socket, const char* kernel, const char* shared) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_kernel* own = nullptr;
  if (rk_status s = rk_launch(c, kernel, nullptr, &own); s != RK_OK) return fail("launch", s);
  if (rk_status s = rk_activate(own); s != RK_OK) return fail("activate", s);
  rk_kernel* other = nullptr;
  if (shared && *shared)
    if (rk_status s = rk_attach(c, shared, &other); s != RK_OK) return fail("attach", s);
  const uint32_t pid = uint32_t(getpid());
  rk_message* kept = nullptr;  // one reply held unreleased at times: a kill finds ring space in use
  for (uint64_t seq = 0;; ++seq) {
    rk_kernel* k = other && seq % 2 ? other : own;
    std::vector<unsigned char> p = make_payload(pid, seq);
    p.resize(p.size() + (seq % 5) * 997);
    // Some fire-and-forget sends, so that requests are in flight when killed.
    if (seq % 7 == 3) {
      if (rk_status s = rk_send(k, kType, p.data(), p.size(), seq, 30000); s != RK_OK) return fail("send", s);
      rk_message* r = nullptr;
      if (rk_status s = rk_receive(k, &r, 30000); s != RK_OK) return fail("receive", s);
      rk_message_release(r);
      continue;
    }
    rk_message* reply = nullptr;
    if (rk_status s = rk_call(k, kType, p.data(), p.size(), &reply, 30000); s != RK_OK) return fail("call", s);
    if (k == own && !kept) {
      kept = reply;
    } else {
      rk_message_release(reply);
    }
    if (seq % 4 == 0 && kept) {
      rk_message_release(kept);
      kept = nullptr;
    }
    if (seq == 1) say("ready");
  }
}

int block_in_call(const char* socket) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_kernel* k = nullptr;
  if (rk_status s = rk_launch(c, "echo", nullptr, &k); s != RK_OK) return fail("launch", s);
  // Never activated: the call can only end by its timeout or by the server's death.
  say("ready");
  const char text[] = "are you there?";
  rk_message* reply = nullptr;
  rk_status s = rk_call(k, kType, text, sizeof text, &reply, 60000);
  say(status_name(s));
  rk_message_release(reply);
  rk_kernel_release(k);
  rk_disconnect(c);
  return 0;
}

int block_in_all(const char* socket) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.ring_bytes = 65536;
  rk_kernel* idle = nullptr;
  if (rk_status s = rk_launch(c, "echo", &o, &idle); s != RK_OK) return fail("launch", s);
  rk_kernel* quiet = nullptr;
  if (rk_status s = rk_launch(c, "echo", nullptr, &quiet); s != RK_OK) return fail("launch", s);
  if (rk_status s = rk_activate(quiet); s != RK_OK) return fail("activate", s);
  // Fill the idle kernel's request ring (no wait: full means full).
  std::vector<unsigned char> body(2000, 0x42);
  for (int i = 0;; ++i) {
    rk_status s = rk_send(idle, kType, body.data(), body.size(), uint64_t(i), 0);
    if (s == RK_E_QUEUE_FULL) break;
    if (s != RK_OK || i > 100000) return fail("fill", s);
  }
  std::mutex out_mu;
  auto report = [&](const char* what, rk_status s) {
    std::lock_guard lock(out_mu);
    std::printf("%s %s\n", what, status_name(s));
    std::fflush(stdout);
  };
  say("ready");
  std::thread sender([&] { report("send", rk_send(idle, kType, body.data(), body.size(), 1u << 30, 60000)); });
  std::thread receiver([&] {
    rk_message* m = nullptr;
    rk_status s = rk_receive(quiet, &m, 60000);
    rk_message_release(m);
    report("receive", s);
  });
  // The call cannot even send into the full ring: it waits for space first.
  rk_message* reply = nullptr;
  report("call", rk_call(idle, kType, body.data(), 8, &reply, 60000));
  rk_message_release(reply);
  sender.join();
  receiver.join();
  rk_kernel_release(idle);
  rk_kernel_release(quiet);
  rk_disconnect(c);
  return 0;
}

// Sends `p` on k, waits for its reply and checks it is p itself.
rk_status echo_round(rk_kernel* k, const std::vector<unsigned char>& p, bool& mismatch) {
  rk_message* reply = nullptr;
  rk_status s = rk_call(k, kType, p.data(), p.size(), &reply, 30000);
  if (s != RK_OK) return s;
  size_t len = 0;
  const void* d = rk_message_data(reply, &len);
  mismatch = len != p.size() || std::memcmp(d, p.data(), len) != 0;
  rk_message_release(reply);
  return RK_OK;
}

int victim(const char* socket, const char* shared, const std::string& what) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_kernel* own = nullptr;
  if (rk_status s = rk_launch(c, "echo", nullptr, &own); s != RK_OK) return fail("launch", s);
  const uint32_t pid = uint32_t(getpid());
  bool mismatch = false;
  if (what == "blocked") {
    // Never activated: only its timeout or the server could end this call.
    say("ready");
    std::vector<unsigned char> p = make_payload(pid, 0);
    rk_message* reply = nullptr;
    (void)rk_call(own, kType, p.data(), p.size(), &reply, 60000);
    return fail("blocked call returned");
  }
  if (rk_status s = rk_activate(own); s != RK_OK) return fail("activate", s);
  rk_kernel* other = nullptr;
  if (what != "attach")
    if (rk_status s = rk_attach(c, shared, &other); s != RK_OK) return fail("attach", s);
  for (uint64_t seq = 0;; ++seq) {
    std::vector<unsigned char> p = make_payload(pid, seq);
    p.resize(p.size() + (seq % 7) * 331);
    if (what == "reserve") {
      rk_kernel* k = seq % 2 ? other : own;
      void* room = nullptr;
      rk_message* r = nullptr;
      if (rk_status s = rk_reserve(k, p.size(), &room, &r, 30000); s != RK_OK) return fail("reserve", s);
      // Slowly, so that a kill often lands between reserve and commit.
      for (size_t i = 0; i < p.size(); ++i) static_cast<volatile unsigned char*>(room)[i] = p[i];
      if (rk_status s = rk_commit(r, p.size(), kType, seq); s != RK_OK) return fail("commit", s);
      rk_message* reply = nullptr;
      if (rk_status s = rk_receive(k, &reply, 30000); s != RK_OK) return fail("receive", s);
      rk_message_release(reply);
    } else if (what == "call") {
      if (rk_status s = echo_round(seq % 2 ? other : own, p, mismatch); s != RK_OK) return fail("call", s);
    } else if (what == "attach") {
      rk_kernel* k = nullptr;
      if (rk_status s = rk_attach(c, shared, &k); s != RK_OK) return fail("attach", s);
      rk_status s = echo_round(k, p, mismatch);
      rk_kernel_release(k);
      if (s != RK_OK) return fail("call", s);
    } else {
      return fail("unknown victim activity " + what);
    }
    if (mismatch) return fail("a reply that is not ours");
    if (seq == 1) say("ready");
  }
}

int call_until_stdin(const char* socket, const char* shared) {
  auto error = [](const char* what, rk_status s) {
    std::printf("error %s %s\n", what, status_name(s));
    std::fflush(stdout);
    return 1;
  };
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return error("connect", s);
  rk_kernel* own = nullptr;
  rk_kernel* other = nullptr;
  if (rk_status s = rk_launch(c, "echo", nullptr, &own); s != RK_OK) return error("launch", s);
  if (rk_status s = rk_activate(own); s != RK_OK) return error("activate", s);
  if (rk_status s = rk_attach(c, shared, &other); s != RK_OK) return error("attach", s);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    char line[64];
    (void)!std::fgets(line, sizeof line, stdin);
    stop = true;
  });
  const uint32_t pid = uint32_t(getpid());
  uint64_t n = 0;
  int rc = 0;
  for (; !stop; ++n) {
    bool mismatch = false;
    std::vector<unsigned char> p = make_payload(pid, n);
    if (rk_status s = echo_round(n % 2 ? other : own, p, mismatch); s != RK_OK) {
      rc = error("call", s);
      break;
    }
    if (mismatch) {
      rc = error("mismatch", RK_E_CORRUPT);
      break;
    }
    if (n == 1) say("ready");
  }
  if (rc == 0) {
    std::printf("ok %llu\n", static_cast<unsigned long long>(n));
    std::fflush(stdout);
  }
  reader.join();
  rk_kernel_release(other);
  rk_kernel_release(own);
  rk_disconnect(c);
  return rc;
}

int load_until_death(const char* socket) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_kernel* k = nullptr;
  if (rk_status s = rk_launch(c, "echo", nullptr, &k); s != RK_OK) return fail("launch", s);
  if (rk_status s = rk_activate(k); s != RK_OK) return fail("activate", s);
  const uint32_t pid = uint32_t(getpid());
  for (uint64_t seq = 0;; ++seq) {
    std::vector<unsigned char> p = make_payload(pid, seq);
    rk_message* reply = nullptr;
    rk_status s = rk_call(k, kType, p.data(), p.size(), &reply, 60000);
    if (s != RK_OK) {
      say(status_name(s));
      return 0;
    }
    rk_message_release(reply);
    if (seq == 0) say("ready");
  }
}

int never_read(const char* socket, const char* shared) {
  rk_client* c = nullptr;
  if (rk_status s = rk_connect(socket, &c); s != RK_OK) return fail("connect", s);
  rk_kernel* k = nullptr;
  if (rk_status s = rk_attach(c, shared, &k); s != RK_OK) return fail("attach", s);
  std::vector<unsigned char> body(1500, 0x17);
  for (uint64_t i = 0;; ++i) {
    rk_status s = rk_send(k, kType, body.data(), body.size(), i, 100);
    if (s == RK_E_QUEUE_FULL) break;
    if (s != RK_OK || i > 1000000) return fail("send", s);
  }
  say("full");
  char line[64];
  (void)!std::fgets(line, sizeof line, stdin);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: rk_test_client attach-and-call <socket> <instance> <n>\n"
               "       rk_test_client call-forever <socket> <kernel> [<shared-instance>]\n"
               "       rk_test_client block-in-call <socket>\n"
               "       rk_test_client block-in-all <socket>\n"
               "       rk_test_client victim <socket> <shared-instance> <reserve|call|blocked|attach>\n"
               "       rk_test_client call-until-stdin <socket> <shared-instance>\n"
               "       rk_test_client load-until-death <socket>\n"
               "       rk_test_client never-read <socket> <shared-instance>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  if (mode == "attach-and-call" && argc == 5) return attach_and_call(argv[2], argv[3], std::strtoull(argv[4], nullptr, 10));
  if (mode == "call-forever" && (argc == 4 || argc == 5)) return call_forever(argv[2], argv[3], argc == 5 ? argv[4] : nullptr);
  if (mode == "block-in-call" && argc == 3) return block_in_call(argv[2]);
  if (mode == "block-in-all" && argc == 3) return block_in_all(argv[2]);
  if (mode == "victim" && argc == 5) return victim(argv[2], argv[3], argv[4]);
  if (mode == "call-until-stdin" && argc == 4) return call_until_stdin(argv[2], argv[3]);
  if (mode == "load-until-death" && argc == 3) return load_until_death(argv[2]);
  if (mode == "never-read" && argc == 4) return never_read(argv[2], argv[3]);
  return usage();
}
