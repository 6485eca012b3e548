// The built-in kernels, by name (host side: what the server registers at
// start-up and what `launch` looks names up in).
#pragma once
#include <span>
#include <string_view>

#include "kernels/sdk/handler.h"

namespace rk {

// Every built-in, in rk::builtin::Builtin order.
std::span<const KernelDef> builtin_kernels();

// The built-in called `name`, or nullptr.
const KernelDef* find_builtin(std::string_view name);

}  // namespace rk
