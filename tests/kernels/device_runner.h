// Runs a built-in kernel on the GPU over a batch of request records, the way
// the CUDA backend will: every lane of a block (or a lone thread) calls
// rk::handle_message on the same records. Plain C++ interface, so the gtest
// side is compiled by g++ and only device_runner.cu by nvcc.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace rk::test {

struct DeviceBatch {
  std::vector<uint64_t> words;     // every request record, one after another
  std::vector<uint32_t> offsets;   // word offset of each record
  std::vector<uint32_t> lengths;   // byte length of each record
  void add(const std::vector<uint64_t>& record) {
    offsets.push_back(uint32_t(words.size()));
    lengths.push_back(uint32_t(record.size() * 8));
    words.insert(words.end(), record.begin(), record.end());
  }
  size_t size() const { return offsets.size(); }
};

enum class LaneMode {
  block_per_message,   // one block per record, every thread a lane
  thread_per_message,  // one thread per record, alone
  warp_per_message,    // one warp per record, its 32 threads the lanes
};

struct DeviceRun {
  uint32_t builtin = 0;           // rk::builtin::Builtin
  LaneMode mode = LaneMode::block_per_message;
  uint32_t threads = 256;         // block size
  uint32_t reply_capacity = 4096; // bytes per reply record
  bool zeroed = true;             // replies zeroed before, Reply told so; else filled with garbage
  uint32_t state_bytes = 8;
};

struct DeviceReplies {
  std::vector<uint64_t> words;        // reply record i at i * reply_capacity / 8
  std::vector<uint32_t> bytes;        // reply lengths
  std::vector<uint16_t> status;
  std::vector<uint64_t> state;        // the kernel state after the batch
  const void* reply(size_t i, uint32_t capacity) const { return words.data() + i * (capacity / 8); }
};

// Whether a CUDA device is usable here.
bool device_available();

// Runs the batch; returns an empty string, or what went wrong (a CUDA error
// such as an illegal address is a test failure, not a crash).
std::string run_on_device(const DeviceRun& run, const DeviceBatch& batch, DeviceReplies* out);

}  // namespace rk::test
