// `promtool check metrics` over a text, for the tests that validate our
// Prometheus output. promtool comes from Debian's prometheus package.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/tools/command.h"

namespace rk::test {

inline bool have_promtool() { return std::string(RK_PROMTOOL).size() > 0; }

// The result of `promtool check metrics < text`.
inline CommandResult promtool_check(const std::string& text) {
  TempDir dir("rk-promtool");
  const std::string file = dir.path() + "/metrics.txt";
  std::ofstream(file) << text;
  return run_command({"/bin/sh", "-c", std::string(RK_PROMTOOL) + " check metrics < " + file},
                     std::chrono::seconds(60));
}

}  // namespace rk::test
