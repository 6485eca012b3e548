// The control block of one kernel instance: plain data in memory both the
// server and the kernel see (process memory for the CPU backend, mapped
// pinned memory for CUDA). One writer per field, so no field ever needs a
// read-modify-write across the host/device boundary.
#pragma once
#include <cstdint>

namespace rk::server {

struct alignas(128) ControlBlock {
  // Line 0 — written by the host (control thread), read by the kernel.
  uint32_t active;               // 1: process messages; 0: hold them in the rings
  uint32_t terminate_requested;  // 1: drain and exit
  uint64_t epoch;                // bumped on every host-side change (activate, bind, ...)
  uint64_t table_epoch;          // GPU worker: bumped when the channel table changes
  uint8_t pad0[128 - 24];

  // Lines 1.. — written by the kernel, read by the host.
  uint32_t terminated;           // 1: the kernel has exited its loop
  uint32_t faulted;              // 1: the kernel stopped on a fault
  uint64_t seen_epoch;           // last host epoch the kernel acted on
  uint64_t heartbeat_ns;         // kernel clock at its last loop iteration
  uint32_t parked;               // 1: idle and parked on its bell (not hung)
  uint16_t last_error;           // rk::Errc of the last error reply
  uint16_t pad1;
  uint64_t processed;            // messages handled
  uint64_t errors;               // messages answered with an error status
  uint64_t dropped;              // must stay 0
  uint64_t latency_sum_ns;       // handler time, for the average
  uint64_t latency_min_ns;
  uint64_t latency_max_ns;
  uint64_t backpressure;         // times a full reply ring held a channel back
  uint64_t latency_samples;      // messages whose handler time was measured
  uint8_t pad2[128 - 96];
};
// A GPU kernel with several blocks keeps its counters per block (no
// read-modify-write across PCIe); the host adds them up.
static_assert(sizeof(ControlBlock) == 256);
static_assert(__builtin_offsetof(ControlBlock, terminated) == 128);

}  // namespace rk::server
