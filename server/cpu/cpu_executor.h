// The CPU backend's persistent kernel: one worker thread per instance that
// plays the GPU's part on the same rings with the same handlers.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "server/backend.h"

namespace rk::server::cpu {

class CpuExecutor final : public Executor {
 public:
  explicit CpuExecutor(const LaunchSpec& spec);
  ~CpuExecutor() override;

  Errc bind(ChannelPtr channel, std::string& why) override;
  void unbind(const ChannelPtr& channel) override;
  void set_active(bool active) override;
  void request_terminate() override;
  Telemetry telemetry() const override;
  std::string fault_message() const override;

 private:
  void run();
  // Serves up to a burst of messages from one channel; returns how many.
  size_t serve(Channel& channel);
  // Answers every unread request of a channel with an error (on terminate
  // while inactive, or after a fault), so no caller waits for nothing.
  void refuse_pending(Channel& channel, Errc why);
  bool any_work() const;
  void refresh_channels();
  void poke();  // wake the worker after a host-side change

  LaunchSpec spec_;
  ControlBlock cb_{};
  LatencyHistogram latency_;  // the sampled handler times, by bucket
  std::vector<std::byte> state_;  // the kernel's persistent state, zeroed

  mutable std::mutex mu_;          // guards pending_
  std::vector<ChannelPtr> pending_;  // the channel set the host wants
  std::atomic<uint64_t> host_epoch_{0};
  std::vector<ChannelPtr> channels_;  // the worker's own snapshot
  size_t next_channel_ = 0;           // round-robin start, for fairness

  std::string fault_;
  std::thread thread_;
};

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  Result<std::unique_ptr<Executor>> launch(const LaunchSpec& spec, std::string& why) override;
};

}  // namespace rk::server::cpu
