// Test fixture of the service suites: a real ringkerneld (CPU backend) on a
// fresh socket in a private temporary directory, child processes running
// rk_test_client, and probes of what the server holds (/proc/<pid>/fd,
// /proc/<pid>/task) and of what is left in /dev/shm.
//
// Everything here bounds its waits: a test that waits for something that
// never happens fails with a message, it does not hang.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rk::test {

using namespace std::chrono_literals;

// Paths of the binaries built next to the tests.
std::string server_binary();  // RK_BIN_DIR/ringkerneld
std::string client_binary();  // RK_BIN_DIR/rk_test_client

// A child process (fork + exec) with optional pipes on its stdin and
// stdout. SIGKILLed and reaped by the destructor if still running.
class Process {
 public:
  struct Options {
    bool pipe_stdin = false;
    bool pipe_stdout = false;
    std::string stderr_file;  // empty: inherit the test's stderr
  };
  Process(const std::string& path, std::vector<std::string> args, const Options& options);
  Process(const std::string& path, std::vector<std::string> args) : Process(path, std::move(args), Options{}) {}
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // True while the child has not exited (reaps it if it has).
  bool running();
  // Sends `sig` (no-op once reaped).
  void signal(int sig);
  // Waits up to `bound` for the exit; the raw wait status, or nullopt if it
  // is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds bound);
  // SIGKILL and reap.
  void kill_and_reap();
  // One line of the child's stdout without the newline; nullopt on timeout
  // or EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds bound);
  // Writes to the child's stdin; false if it is gone.
  bool write_stdin(const std::string& text);

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::optional<int> status_;
  std::string buffered_;
};

// "exited 0", "killed by signal 9", ... for failure messages.
std::string describe_wait_status(int status);

// A ringkerneld started with `--backend cpu` on <tmpdir>/rk.sock, already
// accepting connections once construction returns (check started()). The
// destructor stops it with SIGTERM (bounded), then SIGKILL, and removes the
// directory; a server still running then must exit 0 (the test fails
// otherwise, with the server's log).
class Daemon {
 public:
  explicit Daemon(std::vector<std::string> extra_args = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  bool started() const { return started_; }
  // Why it did not start, with the tail of its log.
  const std::string& error() const { return error_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& dir() const { return dir_; }
  Process& process() { return *process_; }
  // The last `bytes` of the server's log (stderr), for failure messages.
  std::string log_tail(size_t bytes = 4000) const;

 private:
  std::string dir_;
  std::string socket_path_;
  std::string log_path_;
  std::optional<Process> process_;
  bool started_ = false;
  std::string error_;
};

// What the server holds: open descriptors and threads. -1 if unreadable.
int count_fds(pid_t pid);
int count_threads(pid_t pid);
// Shared-memory segments `pid` has mapped: distinct memfd inodes in
// /proc/<pid>/maps (session segments, kernel bells, ...). -1 if unreadable.
int count_mapped_segments(pid_t pid);
// Resident set size of `pid` in KiB (VmRSS), or -1.
long rss_kib(pid_t pid);
// Names of the rk-* entries in /dev/shm.
std::set<std::string> shm_entries();
// Entries of `now` that are not in `before`.
std::set<std::string> new_entries(const std::set<std::string>& before, const std::set<std::string>& now);
std::string join(const std::set<std::string>& names);

// Polls `condition` until it holds or `bound` passes; returns its last value.
// For state that settles asynchronously (the server reclaims a session after
// it notices the hang-up), never to measure time.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds bound = 20s);

}  // namespace rk::test
