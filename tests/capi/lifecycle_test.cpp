// The control plane through the C ABI against a real ringkerneld (CPU
// backend): kernel lifecycle and its illegal transitions, refusals with a
// message (unknown kernel, foreign ABI), sessions and instances as the
// server counts them.
#include <signal.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/capi/capi_test.h"
#include "tests/capi/raw_control.h"

namespace rk::test {
namespace {

class CapiLifecycle : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(daemon_.started()) << daemon_.error(); }
  Daemon daemon_;
};

TEST_F(CapiLifecycle, LegalTransitions_EachStepReportsItsState) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  KernelPtr k = launch(c.get(), "echo");
  ASSERT_TRUE(k);
  EXPECT_NE(rk_kernel_id(k.get()), 0u);
  EXPECT_EQ(state_of(k.get()), RK_STATE_LAUNCHED);

  RK_ASSERT_OK(rk_activate(k.get()));
  EXPECT_EQ(state_of(k.get()), RK_STATE_ACTIVE);

  RK_ASSERT_OK(rk_deactivate(k.get()));
  EXPECT_EQ(state_of(k.get()), RK_STATE_DEACTIVATED);

  RK_ASSERT_OK(rk_activate(k.get()));  // a deactivated kernel may resume
  EXPECT_EQ(state_of(k.get()), RK_STATE_ACTIVE);

  rk_status s = rk_terminate(k.get(), 5000);
  ASSERT_EQ(s, RK_OK) << why(s);
  EXPECT_EQ(state_of(k.get()), RK_STATE_TERMINATED);
  EXPECT_EQ(metrics(k.get()).state, RK_STATE_TERMINATED);
}

TEST_F(CapiLifecycle, IllegalTransitions_FailWithStateErrorAndMessage) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  KernelPtr k = launch(c.get(), "echo");
  ASSERT_TRUE(k);

  // Refused steps leave the state where it was and say why.
  auto refused = [&](rk_status got, rk_state unchanged, const char* what) {
    EXPECT_EQ(got, RK_E_STATE) << what << ": " << why(got);
    EXPECT_STRNE(rk_last_error_message(), "") << what;
    EXPECT_EQ(state_of(k.get()), unchanged) << what;
  };
  refused(rk_deactivate(k.get()), RK_STATE_LAUNCHED, "deactivate a launched kernel");

  RK_ASSERT_OK(rk_activate(k.get()));
  refused(rk_activate(k.get()), RK_STATE_ACTIVE, "activate twice");

  RK_ASSERT_OK(rk_deactivate(k.get()));
  refused(rk_deactivate(k.get()), RK_STATE_DEACTIVATED, "deactivate twice");

  RK_ASSERT_OK(rk_terminate(k.get(), 5000));
  EXPECT_EQ(state_of(k.get()), RK_STATE_TERMINATED);

  const char text[] = "too late";
  rk_status s = rk_send(k.get(), 1, text, sizeof text, 1, 1000);
  EXPECT_EQ(s, RK_E_STATE) << "send after terminate: " << why(s);
  EXPECT_STRNE(rk_last_error_message(), "");
  rk_message* reply = nullptr;
  s = rk_call(k.get(), 1, text, sizeof text, &reply, 1000);
  EXPECT_EQ(s, RK_E_STATE) << "call after terminate: " << why(s);
  rk_message_release(reply);

  refused(rk_terminate(k.get(), 5000), RK_STATE_TERMINATED, "terminate twice");
  refused(rk_activate(k.get()), RK_STATE_TERMINATED, "activate after terminate");
}

TEST_F(CapiLifecycle, UnknownKernel_NotFoundWithMessage) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  rk_kernel* k = reinterpret_cast<rk_kernel*>(0x1);  // must be overwritten
  rk_status s = rk_launch(c.get(), "no_such_kernel", nullptr, &k);
  EXPECT_EQ(s, RK_E_NOT_FOUND) << why(s);
  EXPECT_NE(std::string(rk_last_error_message()).find("no_such_kernel"), std::string::npos)
      << "message: " << rk_last_error_message();
  EXPECT_EQ(k, nullptr);

  rk_kernel* a = nullptr;
  s = rk_attach(c.get(), "nobody-launched-this", &a);
  EXPECT_EQ(s, RK_E_NOT_FOUND) << why(s);
  EXPECT_STRNE(rk_last_error_message(), "");
  EXPECT_EQ(a, nullptr);

  // The session is still good for real work.
  KernelPtr echo = launch(c.get(), "echo");
  EXPECT_TRUE(echo);
}

TEST_F(CapiLifecycle, WrongAbiVersion_RefusedWithMessage) {
  RawControl raw(daemon_.socket_path());
  ASSERT_TRUE(raw.connected());
  ASSERT_EQ(raw.hello(999), Errc::ok);
  auto reply = raw.reply();
  EXPECT_EQ(reply.getStatus(), uint16_t(RK_E_ABI_MISMATCH));
  const std::string message = reply.getMessage();
  EXPECT_FALSE(message.empty());
  EXPECT_NE(message.find("999"), std::string::npos) << message;
  EXPECT_FALSE(reply.isWelcome());

  // Not admitted: anything but hello is still refused.
  capnp::MallocMessageBuilder m;
  m.initRoot<rk::schema::Request>().initLaunch().setKernel("echo");
  ASSERT_EQ(raw.exchange(m), Errc::ok);
  EXPECT_NE(raw.reply().getStatus(), 0u);
  EXPECT_FALSE(raw.reply().isBound());
}

TEST_F(CapiLifecycle, WrongProtocolVersion_RefusedWithMessage) {
  RawControl raw(daemon_.socket_path());
  ASSERT_TRUE(raw.connected());
  ASSERT_EQ(raw.hello(RK_ABI_VERSION, wire::kProtocolVersion + 100), Errc::ok);
  EXPECT_EQ(raw.reply().getStatus(), uint16_t(RK_E_ABI_MISMATCH));
  EXPECT_NE(raw.reply().getMessage().size(), 0u);
}

TEST_F(CapiLifecycle, ServerInfo_CountsSessions) {
  ClientPtr a = connect_to(daemon_);
  ASSERT_TRUE(a);
  // The start-up probe's connection is reclaimed asynchronously.
  ASSERT_TRUE(eventually([&] { return server_info(a.get()).sessions == 1; }))
      << "sessions: " << server_info(a.get()).sessions;
  rk_server_info info = server_info(a.get());
  EXPECT_EQ(info.abi_version, RK_ABI_VERSION);
  EXPECT_EQ(info.pid, daemon_.pid());
  EXPECT_EQ(info.default_backend, RK_BACKEND_CPU);
  EXPECT_EQ(info.instances, 0u);

  {
    ClientPtr b = connect_to(daemon_);
    ClientPtr c = connect_to(daemon_);
    ASSERT_TRUE(b && c);
    // Each connect finished its handshake: the server counts it already.
    EXPECT_EQ(server_info(a.get()).sessions, 3u);
    EXPECT_EQ(server_info(b.get()).sessions, 3u);
  }
  EXPECT_TRUE(eventually([&] { return server_info(a.get()).sessions == 1; }))
      << "sessions after two disconnects: " << server_info(a.get()).sessions;
}

TEST_F(CapiLifecycle, PrivateKernel_DiesWithItsSession) {
  ClientPtr observer = connect_to(daemon_);
  ASSERT_TRUE(observer);
  const uint32_t before = server_info(observer.get()).instances;
  {
    ClientPtr c = connect_to(daemon_);
    ASSERT_TRUE(c);
    rk_kernel* k = nullptr;
    RK_ASSERT_OK(rk_launch(c.get(), "echo", nullptr, &k));
    RK_ASSERT_OK(rk_activate(k));
    rk_message* reply = nullptr;
    RK_ASSERT_OK(rk_call(k, 1, "x", 1, &reply, 10000));
    rk_message_release(reply);
    EXPECT_EQ(server_info(observer.get()).instances, before + 1);
    // Disconnect without releasing or terminating: the session takes it along.
  }
  EXPECT_TRUE(eventually([&] { return server_info(observer.get()).instances == before; }))
      << "instances: " << server_info(observer.get()).instances << ", expected " << before;
}

TEST_F(CapiLifecycle, PrivateKernel_DiesWhenItsClientIsKilled) {
  ClientPtr observer = connect_to(daemon_);
  ASSERT_TRUE(observer);
  const uint32_t before = server_info(observer.get()).instances;
  Process::Options o;
  o.pipe_stdout = true;
  Process client(client_binary(), {"call-forever", daemon_.socket_path(), "echo"}, o);
  ASSERT_TRUE(client.started());
  auto ready = client.read_line(10s);
  ASSERT_EQ(ready.value_or("(nothing)"), "ready");
  EXPECT_EQ(server_info(observer.get()).instances, before + 1);
  EXPECT_EQ(server_info(observer.get()).sessions, 2u);

  client.kill_and_reap();
  EXPECT_TRUE(eventually([&] { return server_info(observer.get()).instances == before; }))
      << "instances: " << server_info(observer.get()).instances << ", expected " << before;
  EXPECT_TRUE(eventually([&] { return server_info(observer.get()).sessions == 1; }));
}

TEST_F(CapiLifecycle, SharedKernel_OutlivesItsLauncher) {
  ClientPtr observer = connect_to(daemon_);
  ASSERT_TRUE(observer);
  const uint32_t before = server_info(observer.get()).instances;
  {
    ClientPtr c = connect_to(daemon_);
    ASSERT_TRUE(c);
    KernelPtr k = launch_shared_active(c.get(), "echo", "outlives-launcher");
    ASSERT_TRUE(k);
  }
  // Give the server a chance to (wrongly) reap it before looking.
  ClientPtr again = connect_to(daemon_);
  ASSERT_TRUE(again);
  EXPECT_TRUE(eventually([&] { return server_info(observer.get()).sessions == 2; }));
  EXPECT_EQ(server_info(observer.get()).instances, before + 1);

  rk_kernel* k = nullptr;
  rk_status s = rk_attach(again.get(), "outlives-launcher", &k);
  ASSERT_EQ(s, RK_OK) << why(s);
  KernelPtr shared(k);
  EXPECT_EQ(state_of(k), RK_STATE_ACTIVE);
  rk_message* reply = nullptr;
  s = rk_call(k, 3, "still here", 10, &reply, 10000);
  EXPECT_EQ(s, RK_OK) << why(s);
  rk_message_release(reply);

  // A second instance of the same name is refused while it lives.
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.instance_name = "outlives-launcher";
  rk_kernel* dup = nullptr;
  EXPECT_NE(rk_launch(again.get(), "echo", &o, &dup), RK_OK);
  EXPECT_EQ(dup, nullptr);
}

TEST_F(CapiLifecycle, InvalidLaunchOptions_RefusedWithMessage) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.ring_bytes = 1000;  // not a power of two
  rk_kernel* k = nullptr;
  rk_status s = rk_launch(c.get(), "echo", &o, &k);
  EXPECT_EQ(s, RK_E_INVALID_ARGUMENT) << why(s);
  EXPECT_STRNE(rk_last_error_message(), "");
  EXPECT_EQ(k, nullptr);

  rk_launch_options_init(&o);
  o.backend = RK_BACKEND_CUDA;  // this server runs --backend cpu
  s = rk_launch(c.get(), "echo", &o, &k);
  EXPECT_EQ(s, RK_E_NO_DEVICE) << why(s);
  EXPECT_STRNE(rk_last_error_message(), "");
  EXPECT_EQ(k, nullptr);
  EXPECT_EQ(server_info(c.get()).instances, 0u) << "a refused launch leaves no instance";
}

TEST_F(CapiLifecycle, StagedOrMappedTransfer_OnCpuLaunchesAndServesCalls) {
  // The CPU backend reads the rings in place whatever strategy is asked.
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  for (rk_transfer t : {RK_TRANSFER_STAGED, RK_TRANSFER_MAPPED}) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.backend = RK_BACKEND_CPU;
    o.transfer = t;
    KernelPtr k = launch(c.get(), "echo", &o);
    ASSERT_TRUE(k) << "transfer " << t;
    RK_ASSERT_OK(rk_activate(k.get()));
    rk_message* reply = nullptr;
    rk_status s = rk_call(k.get(), 4, "moved", 5, &reply, 10000);
    ASSERT_EQ(s, RK_OK) << "transfer " << t << ": " << why(s);
    size_t len = 0;
    const void* data = rk_message_data(reply, &len);
    EXPECT_EQ(std::string(static_cast<const char*>(data), len), "moved");
    rk_message_release(reply);
  }
}

TEST_F(CapiLifecycle, UnknownTransfer_RefusedWithMessage) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  rk_launch_options o;
  rk_launch_options_init(&o);
  const uint32_t bad = 7;  // not an rk_transfer: written as the integer a C caller could pass
  std::memcpy(&o.transfer, &bad, sizeof bad);
  rk_kernel* k = nullptr;
  const rk_status s = rk_launch(c.get(), "echo", &o, &k);
  EXPECT_EQ(s, RK_E_INVALID_ARGUMENT) << why(s);
  EXPECT_NE(std::string(rk_last_error_message()).find("rk_transfer"), std::string::npos) << rk_last_error_message();
  EXPECT_EQ(k, nullptr);
  EXPECT_EQ(server_info(c.get()).instances, 0u) << "a refused launch leaves no instance";
}

TEST_F(CapiLifecycle, OptionsBuiltBeforeTransfer_StillLaunch) {
  // A caller compiled against the header before `transfer` existed passes
  // a smaller size; the library must not read past it (it gets AUTO).
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.size = offsetof(rk_launch_options, transfer);
  const uint32_t bad = 7;  // not an rk_transfer: written as the integer a C caller could pass
  std::memcpy(&o.transfer, &bad, sizeof bad);  // beyond size: must be ignored
  KernelPtr k = launch(c.get(), "echo", &o);
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  rk_message* reply = nullptr;
  const rk_status s = rk_call(k.get(), 4, "old", 3, &reply, 10000);
  EXPECT_EQ(s, RK_OK) << why(s);
  rk_message_release(reply);
}

TEST_F(CapiLifecycle, RawLaunchWithUnknownTransfer_ServerSaysInvalidArgument) {
  // The library never sends this; a client speaking the protocol itself may.
  RawControl raw(daemon_.socket_path());
  ASSERT_TRUE(raw.connected());
  ASSERT_EQ(raw.hello(RK_ABI_VERSION), Errc::ok);
  ASSERT_EQ(raw.reply().getStatus(), 0u) << raw.reply().getMessage().cStr();
  if (int fd = raw.take_fd(); fd >= 0) ::close(fd);  // the session segment: not needed here
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<rk::schema::Request>().setSegmentMapped();
    ASSERT_EQ(raw.exchange(m), Errc::ok);
  }
  capnp::MallocMessageBuilder m;
  auto l = m.initRoot<rk::schema::Request>().initLaunch();
  l.setKernel("echo");
  l.setTransfer(static_cast<rk::schema::Transfer>(7));
  ASSERT_EQ(raw.exchange(m), Errc::ok);
  EXPECT_EQ(raw.reply().getStatus(), uint16_t(RK_E_INVALID_ARGUMENT));
  const std::string message = raw.reply().getMessage();
  EXPECT_NE(message.find("transfer"), std::string::npos) << message;
  EXPECT_FALSE(raw.reply().isBound());

  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  EXPECT_EQ(server_info(c.get()).instances, 0u) << "a refused launch leaves no instance";
}

TEST_F(CapiLifecycle, TerminateWithQueuedRequests_InactiveAnswersErrorsActiveDrains) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  KernelPtr idle = launch(c.get(), "echo");
  KernelPtr busy = launch(c.get(), "echo");
  ASSERT_TRUE(idle && busy);
  for (uint64_t i = 0; i < 50; ++i) {
    RK_ASSERT_OK(rk_send(idle.get(), 1, &i, sizeof i, i, 1000));
    RK_ASSERT_OK(rk_send(busy.get(), 1, &i, sizeof i, i, 1000));
  }
  RK_ASSERT_OK(rk_activate(busy.get()));
  RK_ASSERT_OK(rk_terminate(idle.get(), 5000));
  RK_ASSERT_OK(rk_terminate(busy.get(), 5000));

  // Nobody waits for nothing: the never-activated kernel answers each
  // request with an error; the active one finished them all.
  for (uint64_t i = 0; i < 50; ++i) {
    rk_message* m = nullptr;
    rk_status s = rk_receive(idle.get(), &m, 5000);
    ASSERT_NE(m, nullptr) << "request " << i << " of the inactive kernel got no reply: " << why(s);
    EXPECT_NE(s, RK_OK);
    EXPECT_EQ(rk_message_status(m), s);
    EXPECT_EQ(rk_message_correlation(m), i);
    rk_message_release(m);

    s = rk_receive(busy.get(), &m, 5000);
    ASSERT_EQ(s, RK_OK) << "request " << i << " of the active kernel: " << why(s);
    EXPECT_EQ(rk_message_correlation(m), i);
    rk_message_release(m);
  }
  // The figures survive the kernel.
  rk_metrics idle_m = metrics(idle.get());
  EXPECT_EQ(idle_m.state, RK_STATE_TERMINATED);
  EXPECT_EQ(idle_m.errors, 50u);
  EXPECT_EQ(idle_m.dropped, 0u);
  rk_metrics busy_m = metrics(busy.get());
  EXPECT_EQ(busy_m.processed, 50u);
  EXPECT_EQ(busy_m.errors, 0u);
}

TEST_F(CapiLifecycle, SharedKernelTerminated_BlockedCallerOfAnotherSessionGetsAnError) {
  ClientPtr owner = connect_to(daemon_);
  ClientPtr user = connect_to(daemon_);
  ASSERT_TRUE(owner && user);
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.instance_name = "terminated-under-you";
  KernelPtr k = launch(owner.get(), "echo", &o);  // never activated
  ASSERT_TRUE(k);
  rk_kernel* attached = nullptr;
  RK_ASSERT_OK(rk_attach(user.get(), "terminated-under-you", &attached));
  KernelPtr a(attached);

  rk_status got = RK_OK;
  rk_message* reply = nullptr;
  std::thread caller([&] { got = rk_call(attached, 1, "hello?", 6, &reply, 60000); });
  EXPECT_TRUE(eventually([&] { return metrics(k.get()).queue_depth > 0; }, 10s));
  RK_EXPECT_OK(rk_terminate(k.get(), 5000));
  caller.join();  // bounded by the call's timeout; the terminate must end it first
  EXPECT_NE(got, RK_OK);
  EXPECT_NE(got, RK_E_TIMEOUT) << "the caller waited out its timeout";
  rk_message_release(reply);

  // The name is free again, and the attached session learns the state.
  EXPECT_EQ(state_of(a.get()), RK_STATE_TERMINATED);
  KernelPtr again = launch(owner.get(), "echo", &o);
  EXPECT_TRUE(again);
}

TEST_F(CapiLifecycle, ManyKernelsOneAfterAnother_ChannelSpaceIsReused) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  // Far more default-sized channels than one session's segment holds at once.
  for (int i = 0; i < 100; ++i) {
    rk_kernel* k = nullptr;
    rk_status s = rk_launch(c.get(), i % 2 ? "echo" : "counter", nullptr, &k);
    ASSERT_EQ(s, RK_OK) << "launch " << i << ": " << why(s);
    KernelPtr owned(k);
    RK_ASSERT_OK(rk_activate(k));
    const int64_t v = i;
    rk_message* reply = nullptr;
    s = rk_call(k, 1, &v, sizeof v, &reply, 10000);
    ASSERT_EQ(s, RK_OK) << "call " << i << ": " << why(s);
    int64_t got = 0;
    std::memcpy(&got, bytes_of(reply).data(), sizeof got);
    EXPECT_EQ(got, v) << "kernel " << i << " saw a previous kernel's state or ring";
    rk_message_release(reply);
  }
  EXPECT_TRUE(eventually([&] { return server_info(c.get()).instances == 0; }));
}

TEST_F(CapiLifecycle, SessionSpaceExhausted_LimitErrorAndNothingLeaks) {
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(eventually([&] { return server_info(c.get()).sessions == 1; }));
  std::vector<KernelPtr> kernels;
  rk_status s = RK_OK;
  for (int i = 0; i < 200 && s == RK_OK; ++i) {
    rk_kernel* k = nullptr;
    s = rk_launch(c.get(), "echo", nullptr, &k);
    if (s == RK_OK) kernels.emplace_back(k);
  }
  ASSERT_EQ(s, RK_E_LIMIT) << why(s) << " after " << kernels.size() << " launches";
  EXPECT_STRNE(rk_last_error_message(), "");
  const int fds = count_fds(daemon_.pid());
  const int threads = count_threads(daemon_.pid());
  EXPECT_EQ(server_info(c.get()).instances, kernels.size());

  // Refused again and again: no descriptor, thread or instance stays behind.
  for (int i = 0; i < 20; ++i) {
    rk_kernel* k = nullptr;
    EXPECT_EQ(rk_launch(c.get(), "echo", nullptr, &k), RK_E_LIMIT);
  }
  EXPECT_EQ(server_info(c.get()).instances, kernels.size());
  EXPECT_TRUE(eventually([&] { return count_fds(daemon_.pid()) == fds && count_threads(daemon_.pid()) == threads; }))
      << "fds " << count_fds(daemon_.pid()) << " (was " << fds << "), threads " << count_threads(daemon_.pid())
      << " (was " << threads << ")";

  // Releasing one makes room for one, once its kernel has let go of the
  // channel (asynchronous: the release is answered before the kernel exits).
  kernels.pop_back();
  KernelPtr k;
  EXPECT_TRUE(eventually([&] {
    rk_kernel* raw = nullptr;
    s = rk_launch(c.get(), "echo", nullptr, &raw);
    k.reset(raw);
    return s == RK_OK;
  })) << why(s);
}

TEST_F(CapiLifecycle, ControlOfAnInstanceNotBound_NotFound) {
  ClientPtr owner = connect_to(daemon_);
  ASSERT_TRUE(owner);
  KernelPtr k = launch(owner.get(), "echo");
  ASSERT_TRUE(k);
  const uint32_t id = rk_kernel_id(k.get());

  RawControl raw(daemon_.socket_path());
  ASSERT_TRUE(raw.connected());
  ASSERT_EQ(raw.hello(RK_ABI_VERSION), Errc::ok);
  ASSERT_EQ(raw.reply().getStatus(), 0u);
  for (int op = 0; op < 4; ++op) {
    capnp::MallocMessageBuilder m;
    auto req = m.initRoot<rk::schema::Request>();
    if (op == 0) req.initActivate().setInstanceId(id);
    if (op == 1) req.initTerminate().setInstanceId(id);
    if (op == 2) req.initMetrics().setInstanceId(id);
    if (op == 3) req.initRelease().setInstanceId(id);
    ASSERT_EQ(raw.exchange(m), Errc::ok) << "op " << op;
    EXPECT_EQ(raw.reply().getStatus(), uint16_t(RK_E_NOT_FOUND)) << "op " << op;
  }
  EXPECT_EQ(state_of(k.get()), RK_STATE_LAUNCHED) << "another session's private kernel was touched";
}

TEST_F(CapiLifecycle, GarbageControlPackets_RefusedServerKeepsServing) {
  {
    RawControl raw(daemon_.socket_path());
    ASSERT_TRUE(raw.connected());
    // Whole words that do not frame a Cap'n Proto message: refused with a reply.
    const uint64_t junk[4] = {0xffffffff00000007ull, 0x1234, ~0ull, 42};
    ASSERT_EQ(::send(raw.native_fd(), junk, sizeof junk, MSG_NOSIGNAL), ssize_t(sizeof junk));
    wire::Packet packet;
    ASSERT_EQ(packet.receive(raw.native_fd(), 10000), Errc::ok);
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(packet.words().data(), packet.words().size()));
    EXPECT_EQ(reader.getRoot<rk::schema::Reply>().getStatus(), uint16_t(RK_E_MALFORMED));
  }
  {
    RawControl raw(daemon_.socket_path());
    ASSERT_TRUE(raw.connected());
    ASSERT_EQ(::send(raw.native_fd(), "odd", 3, MSG_NOSIGNAL), 3);  // not even whole words
    wire::Packet packet;
    EXPECT_EQ(packet.receive(raw.native_fd(), 10000), Errc::disconnected) << "the session should end";
  }
  // The server survived and serves a proper client.
  ClientPtr c = connect_to(daemon_);
  ASSERT_TRUE(c);
  KernelPtr k = launch(c.get(), "echo");
  ASSERT_TRUE(k);
  RK_ASSERT_OK(rk_activate(k.get()));
  rk_message* reply = nullptr;
  RK_EXPECT_OK(rk_call(k.get(), 1, "ok", 2, &reply, 10000));
  rk_message_release(reply);
  EXPECT_TRUE(daemon_.process().running());
}

}  // namespace
}  // namespace rk::test
