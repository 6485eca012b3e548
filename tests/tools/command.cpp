#include "tests/tools/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

extern char** environ;

namespace rk::test {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& x : extra) replaced |= x.substr(0, x.find('=')) == name;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::string tail(const std::string& s, size_t n = 6000) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; }

}  // namespace

bool CommandResult::exited_ok() const { return exit_code() == 0; }

int CommandResult::exit_code() const {
  if (wait_status < 0 || timed_out || !WIFEXITED(wait_status)) return -1;
  return WEXITSTATUS(wait_status);
}

std::string CommandResult::describe(const std::vector<std::string>& argv) const {
  std::ostringstream o;
  o << "`";
  for (size_t i = 0; i < argv.size(); ++i) o << (i ? " " : "") << argv[i];
  o << "` ";
  if (wait_status < 0)
    o << "did not run";
  else if (timed_out)
    o << "timed out (killed)";
  else if (WIFEXITED(wait_status))
    o << "exited " << WEXITSTATUS(wait_status);
  else if (WIFSIGNALED(wait_status))
    o << "was killed by signal " << WTERMSIG(wait_status);
  o << "\n--- stdout:\n" << tail(out) << "\n--- stderr:\n" << tail(err);
  return o.str();
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds bound,
                          const std::vector<std::string>& extra_env, const std::string& cwd) {
  CommandResult r;
  if (argv.empty()) return r;
  // Everything the child needs is prepared before fork.
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env = merged_environment(extra_env);
  std::vector<char*> cenv;
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return r;
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return r;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: a timeout kills its children too
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    ::close(out[0]);
    ::close(err[0]);
    return r;
  }
  ::setpgid(pid, pid);  // also from here: no race with a kill before the child ran

  const auto deadline = Clock::now() + bound;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, int(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, size_t(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  // Output closed (or time is up): the program may still run, e.g. a daemon
  // child holding no pipe. Wait for it within what is left of the bound.
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (r.timed_out || Clock::now() >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    ::usleep(1000);
  }
  if (r.timed_out) ::kill(-pid, SIGKILL);  // leftovers of the group
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  r.wait_status = status;
  return r;
}

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data())) path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace rk::test
