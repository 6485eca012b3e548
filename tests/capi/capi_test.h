// Small conveniences shared by the service suites: owning handles for the C
// ABI's objects and one-line queries. Tests call the C ABI itself; these
// only make sure nothing leaks when an assertion returns early.
#pragma once
#include <gtest/gtest.h>
#include <ringkernel/ringkernel.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/capi/daemon.h"

namespace rk::test {

struct ClientDeleter {
  void operator()(rk_client* c) const { rk_disconnect(c); }
};
struct KernelDeleter {
  void operator()(rk_kernel* k) const { rk_kernel_release(k); }
};
struct MessageDeleter {
  void operator()(rk_message* m) const { rk_message_release(m); }
};
using ClientPtr = std::unique_ptr<rk_client, ClientDeleter>;
using KernelPtr = std::unique_ptr<rk_kernel, KernelDeleter>;
using MessagePtr = std::unique_ptr<rk_message, MessageDeleter>;

// "queue full (detail)" for assertion messages.
inline std::string why(rk_status s) {
  return std::string(rk_status_string(s)) + " (" + rk_last_error_message() + ")";
}

// Assert/expect RK_OK with the library's detail on failure.
#define RK_ASSERT_OK(expr)                                                   \
  do {                                                                       \
    const rk_status rk_s_ = (expr);                                          \
    ASSERT_EQ(rk_s_, RK_OK) << #expr << ": " << ::rk::test::why(rk_s_);      \
  } while (0)
#define RK_EXPECT_OK(expr)                                                   \
  do {                                                                       \
    const rk_status rk_s_ = (expr);                                          \
    EXPECT_EQ(rk_s_, RK_OK) << #expr << ": " << ::rk::test::why(rk_s_);      \
  } while (0)

inline ClientPtr connect_to(const Daemon& d) {
  rk_client* c = nullptr;
  rk_status s = rk_connect(d.socket_path().c_str(), &c);
  EXPECT_EQ(s, RK_OK) << why(s);
  return ClientPtr(c);
}

inline KernelPtr launch(rk_client* c, const char* kernel, const rk_launch_options* options = nullptr) {
  rk_kernel* k = nullptr;
  rk_status s = rk_launch(c, kernel, options, &k);
  EXPECT_EQ(s, RK_OK) << "launch " << kernel << ": " << why(s);
  return KernelPtr(k);
}

// Launches `kernel` as the shared instance `name` (ring_bytes 0: the
// default) and activates it: the common start of the multi-process tests.
// Null, with the failure recorded, if either step fails.
inline KernelPtr launch_shared_active(rk_client* c, const char* kernel, const char* name, uint64_t ring_bytes = 0) {
  rk_launch_options o;
  rk_launch_options_init(&o);
  o.instance_name = name;
  if (ring_bytes) o.ring_bytes = ring_bytes;
  KernelPtr k = launch(c, kernel, &o);
  if (!k) return k;
  const rk_status s = rk_activate(k.get());
  EXPECT_EQ(s, RK_OK) << "activate " << name << ": " << why(s);
  return s == RK_OK ? std::move(k) : KernelPtr();
}

inline rk_server_info server_info(rk_client* c) {
  rk_server_info info;
  rk_server_info_init(&info);
  rk_status s = rk_server_info_get(c, &info);
  EXPECT_EQ(s, RK_OK) << why(s);
  return info;
}

inline rk_metrics metrics(rk_kernel* k) {
  rk_metrics m;
  rk_metrics_init(&m);
  rk_status s = rk_kernel_metrics(k, &m);
  EXPECT_EQ(s, RK_OK) << why(s);
  return m;
}

inline rk_state state_of(rk_kernel* k) {
  rk_state st = RK_STATE_CREATED;
  rk_status s = rk_kernel_state(k, &st);
  EXPECT_EQ(s, RK_OK) << why(s);
  return st;
}

inline std::vector<unsigned char> bytes_of(const rk_message* m) {
  size_t len = 0;
  const auto* p = static_cast<const unsigned char*>(rk_message_data(m, &len));
  return std::vector<unsigned char>(p, p + len);
}

}  // namespace rk::test
