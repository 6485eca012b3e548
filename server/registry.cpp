#include "server/registry.h"

namespace rk::server {

KernelInstance& Registry::add(std::unique_ptr<KernelInstance> instance) {
  KernelInstance& ref = *instance;
  if (ref.shared()) by_name_[ref.instance_name] = ref.id;
  by_id_[ref.id] = std::move(instance);
  return ref;
}

KernelInstance* Registry::find(uint32_t id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

KernelInstance* Registry::find_shared(const std::string& name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : find(it->second);
}

void Registry::forget_name(KernelInstance& instance) {
  auto it = by_name_.find(instance.instance_name);
  if (it != by_name_.end() && it->second == instance.id) by_name_.erase(it);
}

void Registry::remove(uint32_t id) {
  if (KernelInstance* k = find(id)) forget_name(*k);
  by_id_.erase(id);
}

}  // namespace rk::server
