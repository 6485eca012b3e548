// The running kernel instances, by id and by shared name.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "server/kernel_instance.h"

namespace rk::server {

class Registry {
 public:
  KernelInstance& add(std::unique_ptr<KernelInstance> instance);
  KernelInstance* find(uint32_t id);
  KernelInstance* find_shared(const std::string& name);
  // Frees the shared name (a terminated instance keeps its id until its
  // last channel goes, but a new launch may take the name).
  void forget_name(KernelInstance& instance);
  void remove(uint32_t id);
  uint32_t next_id() { return next_id_++; }
  std::map<uint32_t, std::unique_ptr<KernelInstance>>& all() { return by_id_; }

 private:
  std::map<uint32_t, std::unique_ptr<KernelInstance>> by_id_;
  std::map<std::string, uint32_t> by_name_;
  uint32_t next_id_ = 1;
};

}  // namespace rk::server
