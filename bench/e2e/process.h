// Processes of the harness: the daemon it starts, the client processes it
// spawns (itself, exec'd in a client mode), the shared memory they report
// through, and CPU time read from /proc.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rk::bench {

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A memfd mapped shared; its descriptor is handed to client processes.
class SharedMemory {
 public:
  static std::optional<SharedMemory> create(const char* name, size_t bytes);
  // Maps a descriptor inherited from the harness (a client's side).
  static std::optional<SharedMemory> adopt(int fd);
  SharedMemory(SharedMemory&& o) noexcept;
  SharedMemory& operator=(SharedMemory&&) = delete;
  ~SharedMemory();
  void* data() const { return data_; }
  size_t size() const { return size_; }
  int fd() const { return fd_; }

 private:
  SharedMemory(int fd, void* data, size_t size) : fd_(fd), data_(data), size_(size) {}
  int fd_ = -1;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// What client processes report through (descriptor 3 in a client):
// a start barrier, one slot per client, then latency samples of client 0.
struct alignas(64) ClientSlot {
  uint64_t count;   // round trips / replies inside the measured window
  uint64_t bytes;   // payload bytes of those
  uint64_t samples; // latency samples written
  int32_t status;   // 0 ok, else failed (see error)
  char error[108];
};
static_assert(sizeof(ClientSlot) == 192);

struct alignas(64) BoardHeader {
  std::atomic<uint32_t> ready;  // clients connected and waiting for go
  std::atomic<uint32_t> go;
  std::atomic<uint32_t> stop;   // servers of a baseline exit when set
  uint32_t clients;
  int64_t start_ns;             // steady clock: the measured window
  int64_t end_ns;
};

class Board {
 public:
  static std::optional<Board> create(uint32_t clients, uint64_t samples);
  static std::optional<Board> adopt(int fd);
  BoardHeader& header() const { return *static_cast<BoardHeader*>(mem_.data()); }
  ClientSlot& slot(uint32_t i) const { return reinterpret_cast<ClientSlot*>(&header() + 1)[i]; }
  uint64_t* samples() const { return reinterpret_cast<uint64_t*>(&slot(header().clients)); }
  uint64_t sample_capacity() const;
  int fd() const { return mem_.fd(); }

 private:
  explicit Board(SharedMemory m) : mem_(std::move(m)) {}
  SharedMemory mem_;
};

// A child process: this program exec'd with `args`, descriptors `fds`
// appearing as 3, 4, ... in the child. Killed and reaped by the destructor if
// still running.
class Child {
 public:
  Child() = default;
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&&) = delete;
  ~Child();
  static std::optional<Child> spawn(const std::string& path, const std::vector<std::string>& args,
                                    const std::vector<int>& fds = {});
  pid_t pid() const { return pid_; }
  // Waits up to `timeout_ms`; the exit code, or -1 (signal, or still running: then killed).
  int wait(int64_t timeout_ms);
  void terminate();  // SIGTERM

 private:
  pid_t pid_ = -1;
};

// This executable's path (/proc/self/exe) and its folder.
std::string self_path();
std::string self_dir();

// utime + stime, in seconds, of `pid` and every process descended from it.
double tree_cpu_seconds(pid_t pid);

std::string cpu_model();
std::string gpu_driver_version();  // from /proc/driver/nvidia/version, "" without one
std::string host_name();

}  // namespace rk::bench
