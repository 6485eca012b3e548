#include "tests/capi/daemon.h"

#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace rk::test {

namespace {

using Clock = std::chrono::steady_clock;

int count_dir_entries(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  ::closedir(d);
  return n;
}

// True once something accepts a SOCK_SEQPACKET connection on `path`.
bool accepts(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::string server_binary() { return std::string(RK_BIN_DIR) + "/ringkerneld"; }
std::string client_binary() { return std::string(RK_BIN_DIR) + "/rk_test_client"; }

// ---- Process ------------------------------------------------------------------

Process::Process(const std::string& path, std::vector<std::string> args, const Options& options) {
  args.insert(args.begin(), path);
  // Everything the child needs is prepared before fork: between fork and
  // exec it only calls async-signal-safe functions (the test may have threads).
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if (options.pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0) return;
  if (options.pipe_stdout && ::pipe2(out, O_CLOEXEC) != 0) return;
  int err_fd = -1;
  if (!options.stderr_file.empty()) {
    err_fd = ::open(options.stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err_fd < 0) return;
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // A test that dies abruptly (a sanitizer report, a crash) takes its
    // children with it, instead of leaving a server that holds the test
    // runner's output pipe open until its timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (in[0] >= 0) ::dup2(in[0], STDIN_FILENO);
    if (out[1] >= 0) ::dup2(out[1], STDOUT_FILENO);
    if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int fd : {in[0], out[1], err_fd})
    if (fd >= 0) ::close(fd);
  stdin_ = in[1];
  stdout_ = out[0];
  if (pid_ < 0) {
    for (int fd : {in[1], out[0]})
      if (fd >= 0) ::close(fd);
    stdin_ = stdout_ = -1;
  }
}

Process::~Process() {
  if (pid_ > 0 && !status_) kill_and_reap();
  if (stdin_ >= 0) ::close(stdin_);
  if (stdout_ >= 0) ::close(stdout_);
}

bool Process::running() {
  if (pid_ <= 0 || status_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = status;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(1ms);
  }
  return status_;
}

void Process::kill_and_reap() {
  if (pid_ <= 0 || status_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  status_ = status;
}

std::optional<std::string> Process::read_line(std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  for (;;) {
    if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    if (stdout_ < 0) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{stdout_, POLLIN, 0};
    int r = ::poll(&p, 1, int(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[512];
    ssize_t n = ::read(stdout_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffered_.append(buf, size_t(n));
  }
}

bool Process::write_stdin(const std::string& text) {
  if (stdin_ < 0) return false;
  // The child may be dead: no SIGPIPE for the test.
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t n = ::write(stdin_, text.data(), text.size());
  timespec zero{};
  while (sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return n == ssize_t(text.size());
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// ---- Daemon ---------------------------------------------------------------------

Daemon::Daemon(std::vector<std::string> extra_args) {
  char tmpl[] = "/tmp/rk-capi-test-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    error_ = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  dir_ = tmpl;
  socket_path_ = dir_ + "/rk.sock";
  log_path_ = dir_ + "/ringkerneld.log";
  std::vector<std::string> args = {"--socket", socket_path_, "--backend", "cpu", "--log-level", "debug"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  Process::Options o;
  o.stderr_file = log_path_;
  process_.emplace(server_binary(), std::move(args), o);
  if (!process_->started()) {
    error_ = "cannot start " + server_binary() + ": " + std::strerror(errno);
    return;
  }
  // Bounded: a server that does not come up fails the test with its log.
  const auto deadline = Clock::now() + 10s;
  while (!accepts(socket_path_)) {
    if (!process_->running()) {
      error_ = "ringkerneld exited during start-up (" + describe_wait_status(*process_->wait_exit(0ms)) +
               "); log:\n" + log_tail();
      return;
    }
    if (Clock::now() >= deadline) {
      error_ = "ringkerneld did not accept connections on " + socket_path_ + " within 10 s; log:\n" + log_tail();
      return;
    }
    std::this_thread::sleep_for(2ms);
  }
  started_ = true;
}

Daemon::~Daemon() {
  if (process_ && process_->running()) {
    // Every test also checks a clean shutdown (under sanitizers: no reports).
    process_->signal(SIGTERM);
    if (auto status = process_->wait_exit(15s); !status) {
      ADD_FAILURE() << "ringkerneld did not stop within 15 s of SIGTERM; log:\n" << log_tail();
      process_->kill_and_reap();
    } else if (describe_wait_status(*status) != "exited 0") {
      ADD_FAILURE() << "ringkerneld " << describe_wait_status(*status) << " after SIGTERM; log:\n" << log_tail();
    }
  }
  process_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string Daemon::log_tail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? "..." + s.substr(s.size() - bytes) : s;
}

// ---- probes ------------------------------------------------------------------------

int count_fds(pid_t pid) { return count_dir_entries("/proc/" + std::to_string(pid) + "/fd"); }
int count_threads(pid_t pid) { return count_dir_entries("/proc/" + std::to_string(pid) + "/task"); }

int count_mapped_segments(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  if (!in) return -1;
  std::set<std::string> inodes;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("/memfd:") == std::string::npos) continue;
    // address perms offset dev inode path
    std::istringstream fields(line);
    std::string address, perms, offset, dev, inode;
    fields >> address >> perms >> offset >> dev >> inode;
    inodes.insert(inode);
  }
  return int(inodes.size());
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::set<std::string> shm_entries() {
  std::set<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (!d) return out;
  while (dirent* e = ::readdir(d))
    if (std::strncmp(e->d_name, "rk-", 3) == 0) out.insert(e->d_name);
  ::closedir(d);
  return out;
}

std::set<std::string> new_entries(const std::set<std::string>& before, const std::set<std::string>& now) {
  std::set<std::string> out;
  for (const auto& n : now)
    if (!before.count(n)) out.insert(n);
  return out;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(2ms);
  }
}

}  // namespace rk::test
