// Header-only C++ layer over the RingKernel C ABI: RAII handles, exceptions
// for errors (on the C++ side of the line only), and typed Cap'n Proto
// payloads built in place in the ring.
//
//   rk::Client client;                         // default socket
//   rk::Kernel saxpy = client.launch("saxpy");
//   saxpy.activate();
//   rk::Message reply = saxpy.call_typed<SaxpyRequest>(type, [&](auto req) {...});
#pragma once
#include <ringkernel/ringkernel.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#if __has_include(<capnp/message.h>)
#include <capnp/message.h>
#include <capnp/serialize.h>
#define RINGKERNEL_HPP_CAPNP 1
#endif

namespace rk {

// An rk_status other than RK_OK, with the library's detail message.
class Error : public std::runtime_error {
 public:
  Error(rk_status status, const std::string& what)
      : std::runtime_error(std::string(rk_status_string(status)) + ": " + what), status_(status) {}
  rk_status status() const noexcept { return status_; }

 private:
  rk_status status_;
};

inline void check(rk_status s) {
  if (s != RK_OK) throw Error(s, rk_last_error_message());
}

using Timeout = std::chrono::milliseconds;
inline constexpr Timeout kDefaultTimeout{-1};

// A received reply, released back to the ring when destroyed.
class Message {
 public:
  Message() = default;
  explicit Message(rk_message* m) : m_(m) {}
  Message(Message&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Message& operator=(Message&& o) noexcept {
    if (this != &o) {
      reset();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  ~Message() { reset(); }
  void reset() { rk_message_release(std::exchange(m_, nullptr)); }

  std::span<const std::byte> data() const {
    size_t n = 0;
    const void* p = rk_message_data(m_, &n);
    return {static_cast<const std::byte*>(p), n};
  }
  uint32_t type() const { return rk_message_type(m_); }
  uint64_t correlation() const { return rk_message_correlation(m_); }
  rk_status status() const { return rk_message_status(m_); }
  explicit operator bool() const { return m_ != nullptr; }

#ifdef RINGKERNEL_HPP_CAPNP
  // Reads the typed payload in place (the message must outlive the reader).
  template <class Envelope>
  capnp::FlatArrayMessageReader reader() const {
    size_t n = 0;
    const void* p = rk_message_capnp(m_, &n);
    return capnp::FlatArrayMessageReader(
        kj::arrayPtr(static_cast<const capnp::word*>(p), n / sizeof(capnp::word)));
  }
#endif

 private:
  rk_message* m_ = nullptr;
};

class Kernel {
 public:
  Kernel() = default;
  explicit Kernel(rk_kernel* k) : k_(k) {}
  Kernel(Kernel&& o) noexcept : k_(std::exchange(o.k_, nullptr)) {}
  Kernel& operator=(Kernel&& o) noexcept {
    if (this != &o) {
      rk_kernel_release(k_);
      k_ = std::exchange(o.k_, nullptr);
    }
    return *this;
  }
  ~Kernel() { rk_kernel_release(k_); }

  void activate() { check(rk_activate(k_)); }
  void deactivate() { check(rk_deactivate(k_)); }
  void terminate(Timeout t = kDefaultTimeout) { check(rk_terminate(k_, t.count())); }
  rk_state state() {
    rk_state s;
    check(rk_kernel_state(k_, &s));
    return s;
  }
  rk_metrics metrics() {
    rk_metrics m;
    rk_metrics_init(&m);
    check(rk_kernel_metrics(k_, &m));
    return m;
  }
  uint32_t id() const { return rk_kernel_id(k_); }

  void send(uint32_t type, std::span<const std::byte> payload, uint64_t correlation, Timeout t = kDefaultTimeout) {
    check(rk_send(k_, type, payload.data(), payload.size(), correlation, t.count()));
  }
  Message receive(Timeout t = kDefaultTimeout) {
    rk_message* m = nullptr;
    rk_status s = rk_receive(k_, &m, t.count());
    Message msg(m);
    check(s);
    return msg;
  }
  // Request/reply. An error reply throws Error with the kernel's status.
  Message call(uint32_t type, std::span<const std::byte> payload, Timeout t = kDefaultTimeout) {
    rk_message* m = nullptr;
    rk_status s = rk_call(k_, type, payload.data(), payload.size(), &m, t.count());
    Message msg(m);
    check(s);
    return msg;
  }

#ifdef RINGKERNEL_HPP_CAPNP
  // Builds an Envelope with a typed payload straight into the ring and sends
  // it: fill(payload_builder) writes the payload of type Payload. Envelope is
  // rk::schema::Envelope from the generated schema (passed in so this header
  // needs no generated code). Returns the correlation id used.
  template <class Envelope, class Payload, class Fill>
  uint64_t send_typed(uint32_t type, size_t capacity, Fill&& fill, Timeout t = kDefaultTimeout) {
    void* record = nullptr;
    rk_message* r = nullptr;
    check(rk_reserve_envelope(k_, capacity, &record, &r, t.count()));
    const uint64_t correlation = next_correlation_++ | (uint64_t{1} << 63);  // apart from rk_call's ids
    size_t words = 0;
    try {
      auto* w = static_cast<capnp::word*>(record);
      capnp::FlatMessageBuilder builder(kj::arrayPtr(w + 1, capacity / sizeof(capnp::word) - 1));
      auto env = builder.initRoot<Envelope>();
      env.setKernel(id());
      env.setType(type);
      env.setCorrelation(correlation);
      fill(env.getPayload().template initAs<Payload>());
      auto segments = builder.getSegmentsForOutput();
      if (segments.size() != 1) throw Error(RK_E_TOO_LARGE, "payload does not fit the reservation");
      words = segments[0].size();
      uint32_t framing[2] = {0, uint32_t(words)};
      std::memcpy(record, framing, sizeof framing);
    } catch (const kj::Exception&) {
      rk_message_release(r);
      throw Error(RK_E_TOO_LARGE, "payload does not fit the reservation");
    } catch (...) {
      rk_message_release(r);
      throw;
    }
    check(rk_commit_envelope(r, (words + 1) * sizeof(capnp::word)));
    return correlation;
  }
#endif

  rk_kernel* get() const { return k_; }

 private:
  rk_kernel* k_ = nullptr;
  uint64_t next_correlation_ = 1;
};

struct LaunchOptions {
  rk_backend backend = RK_BACKEND_AUTO;
  std::string instance_name;  // empty: private
  uint32_t grid = 0, block = 0;
  uint64_t ring_bytes = 0;
  int32_t device = -1;
  rk_transfer transfer = RK_TRANSFER_AUTO;
};

class Client {
 public:
  explicit Client(const char* socket_path = nullptr) { check(rk_connect(socket_path, &c_)); }
  Client(Client&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Client& operator=(Client&&) = delete;
  Client(const Client&) = delete;
  ~Client() { rk_disconnect(c_); }

  Kernel launch(const char* kernel, const LaunchOptions& opts = {}) {
    rk_launch_options o;
    rk_launch_options_init(&o);
    o.backend = opts.backend;
    o.instance_name = opts.instance_name.empty() ? nullptr : opts.instance_name.c_str();
    o.grid = opts.grid;
    o.block = opts.block;
    o.ring_bytes = opts.ring_bytes;
    o.device = opts.device;
    o.transfer = opts.transfer;
    rk_kernel* k = nullptr;
    check(rk_launch(c_, kernel, &o, &k));
    return Kernel(k);
  }
  Kernel attach(const char* instance_name) {
    rk_kernel* k = nullptr;
    check(rk_attach(c_, instance_name, &k));
    return Kernel(k);
  }
  rk_client* get() const { return c_; }

 private:
  rk_client* c_ = nullptr;
};

}  // namespace rk
