// The host registry of built-in kernels.
#include "kernels/registry.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "kernels/builtin/builtins.h"

namespace rk {
namespace {

TEST(Registry, EveryBuiltin_FoundByName) {
  for (const char* name : {"echo", "counter", "saxpy", "reduce_sum"}) {
    const KernelDef* def = find_builtin(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_STREQ(def->name, name);
    EXPECT_NE(def->host_handler, nullptr);
    EXPECT_GE(def->default_grid, 1u);
    EXPECT_GE(def->default_block, 1u);
  }
}

TEST(Registry, UnknownName_NotFound) {
  EXPECT_EQ(find_builtin("nope"), nullptr);
  EXPECT_EQ(find_builtin(""), nullptr);
  EXPECT_EQ(find_builtin("echo2"), nullptr);
  EXPECT_EQ(find_builtin("ech"), nullptr);
}

TEST(Registry, Iteration_UniqueNamesInBuiltinOrder) {
  std::set<std::string> names;
  for (const KernelDef& def : builtin_kernels()) names.insert(def.name);
  EXPECT_EQ(names.size(), builtin_kernels().size());
  ASSERT_EQ(builtin_kernels().size(), size_t(builtin::Builtin::count));
  EXPECT_EQ(builtin_kernels()[size_t(builtin::Builtin::echo)].host_handler, &builtin::echo);
  EXPECT_EQ(builtin_kernels()[size_t(builtin::Builtin::counter)].host_handler, &builtin::counter);
  EXPECT_EQ(builtin_kernels()[size_t(builtin::Builtin::saxpy)].host_handler, &builtin::saxpy);
  EXPECT_EQ(builtin_kernels()[size_t(builtin::Builtin::reduce_sum)].host_handler, &builtin::reduce_sum);
}

TEST(Registry, Counter_AsksForItsState) {
  EXPECT_GE(find_builtin("counter")->state_bytes, sizeof(int64_t));
  EXPECT_EQ(find_builtin("echo")->state_bytes, 0u);
}

}  // namespace
}  // namespace rk
