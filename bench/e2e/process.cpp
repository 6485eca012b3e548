#include "bench/e2e/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace rk::bench {

std::optional<SharedMemory> SharedMemory::create(const char* name, size_t bytes) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return std::nullopt;
  // Keep it clear of 3, 4, ... where children expect their descriptors.
  const int high = fcntl(fd, F_DUPFD_CLOEXEC, 64);
  close(fd);
  if (high < 0 || ftruncate(high, off_t(bytes)) != 0) {
    if (high >= 0) close(high);
    return std::nullopt;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, high, 0);
  if (p == MAP_FAILED) {
    close(high);
    return std::nullopt;
  }
  return SharedMemory(high, p, bytes);
}

std::optional<SharedMemory> SharedMemory::adopt(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_size <= 0) return std::nullopt;
  void* p = mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return std::nullopt;
  return SharedMemory(fd, p, size_t(st.st_size));
}

SharedMemory::SharedMemory(SharedMemory&& o) noexcept : fd_(o.fd_), data_(o.data_), size_(o.size_) {
  o.fd_ = -1;
  o.data_ = nullptr;
  o.size_ = 0;
}

SharedMemory::~SharedMemory() {
  if (data_) munmap(data_, size_);
  if (fd_ >= 0) close(fd_);
}

std::optional<Board> Board::create(uint32_t clients, uint64_t samples) {
  const size_t bytes = sizeof(BoardHeader) + (clients + 1) * sizeof(ClientSlot) + samples * sizeof(uint64_t);
  auto m = SharedMemory::create("rk-bench-board", bytes);
  if (!m) return std::nullopt;
  Board b(std::move(*m));
  b.header().clients = clients;
  return b;
}

std::optional<Board> Board::adopt(int fd) {
  auto m = SharedMemory::adopt(fd);
  if (!m || m->size() < sizeof(BoardHeader)) return std::nullopt;
  Board b(std::move(*m));
  const size_t fixed = sizeof(BoardHeader) + (b.header().clients + 1) * sizeof(ClientSlot);
  if (b.mem_.size() < fixed) return std::nullopt;
  return b;
}

uint64_t Board::sample_capacity() const {
  const size_t fixed = sizeof(BoardHeader) + (header().clients + 1) * sizeof(ClientSlot);
  return (mem_.size() - fixed) / sizeof(uint64_t);
}

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::optional<Child> Child::spawn(const std::string& path, const std::vector<std::string>& args,
                                  const std::vector<int>& fds) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (size_t i = 0; i < fds.size(); ++i) posix_spawn_file_actions_adddup2(&fa, fds[i], int(3 + i));
  Child c;
  const int rc = posix_spawn(&c.pid_, path.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    c.pid_ = -1;
    return std::nullopt;
  }
  return c;
}

int Child::wait(int64_t timeout_ms) {
  if (pid_ <= 0) return -1;
  const int64_t deadline = now_ns() + timeout_ms * 1000000;
  int status = 0;
  for (unsigned i = 0;; ++i) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 || now_ns() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(i < 100 ? 100 : 2000));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void Child::terminate() {
  if (pid_ > 0) kill(pid_, SIGTERM);
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

std::string self_dir() {
  std::string p = self_path();
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

namespace {

// (ppid, utime + stime ticks) of one /proc/<pid>/stat; comm may hold spaces
// and parentheses, so fields are counted from the last ')'.
bool read_stat(pid_t pid, pid_t& ppid, uint64_t& ticks) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  const auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return false;
  // After ") ": state(3) ppid(4) ... utime(14) stime(15).
  const char* p = line.c_str() + close_paren + 2;
  std::vector<std::string> fields;
  std::string cur;
  for (; *p; ++p) {
    if (*p == ' ') {
      fields.push_back(cur);
      cur.clear();
    } else {
      cur += *p;
    }
  }
  fields.push_back(cur);
  if (fields.size() < 13) return false;
  ppid = pid_t(std::stol(fields[1]));
  ticks = std::stoull(fields[11]) + std::stoull(fields[12]);
  return true;
}

}  // namespace

double tree_cpu_seconds(pid_t root) {
  std::map<pid_t, std::pair<pid_t, uint64_t>> all;  // pid -> (ppid, ticks)
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end = nullptr;
      const long pid = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      pid_t ppid = 0;
      uint64_t ticks = 0;
      if (read_stat(pid_t(pid), ppid, ticks)) all[pid_t(pid)] = {ppid, ticks};
    }
    closedir(d);
  }
  uint64_t ticks = 0;
  for (const auto& [pid, info] : all) {
    for (pid_t p = pid; p > 1;) {  // is root an ancestor (or itself)?
      if (p == root) {
        ticks += info.second;
        break;
      }
      auto it = all.find(p);
      if (it == all.end()) break;
      p = it->second.first;
    }
  }
  return double(ticks) / double(sysconf(_SC_CLK_TCK));
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

std::string gpu_driver_version() {
  std::ifstream f("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(f, line)) return {};
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  <date>" or
  // "... UNIX Open Kernel Module for x86_64  580.159.04  Release Build ...":
  // the first word that starts with a digit and has a dot.
  std::istringstream words(line);
  for (std::string w; words >> w;)
    if (std::isdigit(static_cast<unsigned char>(w[0])) && w.find('.') != std::string::npos) return w;
  return line;
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace rk::bench
