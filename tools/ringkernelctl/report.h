// What ringkernelctl says: names for the C ABI's enums, the failure it
// reports (an rk_status with context), and human-readable figures.
#pragma once
#include <ringkernel/ringkernel.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace rk::ctl {

// "RK_E_NOT_FOUND" (the enum's own name, what a script greps for).
std::string status_name(rk_status status);
// "active", "terminated", ...
const char* state_name(rk_state state);
// "auto", "cpu", "cuda".
const char* backend_name(rk_backend backend);

// A failed operation: the status, and a message that says what was being
// done and why it failed. main() prints it and exits 1.
class Failure : public std::runtime_error {
 public:
  Failure(rk_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  rk_status status() const noexcept { return status_; }

 private:
  rk_status status_;
};

// Throws Failure("<doing>: <library detail>") unless s is RK_OK.
void check(rk_status s, const std::string& doing);

// 1234 -> "1.23 µs"; picks ns, µs, ms or s.
std::string format_ns(uint64_t ns);
// 1048576 -> "1.0 MiB".
std::string format_bytes(uint64_t bytes);

}  // namespace rk::ctl
