// Entry of ringkernel-bench's client processes (see clients.cpp).
#pragma once
#include <cstdint>

namespace rk::bench {

inline constexpr const char* kClientFlag = "--client";

// argv: <exe> --client <mode> key=value...; returns the exit code.
int client_main(int argc, char** argv);

// Requests in flight per streaming client for a payload size.
uint64_t stream_window(uint64_t payload);

}  // namespace rk::bench
