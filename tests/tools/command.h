// Runs a program to completion, bounded: its stdout and stderr captured, the
// whole process group SIGKILLed if it outlives its bound (a compiler or a
// nested cmake that hangs fails the test, it does not hang it).
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace rk::test {

struct CommandResult {
  int wait_status = -1;    // raw waitpid status; -1 if it never ran
  bool timed_out = false;  // killed at the bound
  std::string out, err;

  bool exited_ok() const;  // ran, exited 0
  int exit_code() const;   // its exit code, or -1 if it did not exit normally
  // "`cmd ...` exited 1; stdout: ...; stderr: ..." for failure messages.
  std::string describe(const std::vector<std::string>& argv) const;
};

// argv[0] is a path (no PATH search). extra_env entries ("NAME=value")
// are added to, or replace in, this process's environment. cwd empty: ours.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds bound,
                          const std::vector<std::string>& extra_env = {}, const std::string& cwd = {});

// A fresh directory under /tmp, removed with everything in it by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
};

// Splits on whitespace (pkg-config output: no quoting in our flags).
std::vector<std::string> split_words(const std::string& s);

}  // namespace rk::test
