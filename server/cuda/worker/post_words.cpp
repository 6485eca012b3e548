#include "server/cuda/worker/post_words.h"

#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include "server/cuda/gpu_layout.h"
#include "server/cuda/worker/cuda_check.h"

namespace rk::server::gpu {

namespace {

std::mutex g_mu;
std::vector<uint64_t*> g_free;  // guarded by g_mu

uint64_t* allocate() {
  void* p = nullptr;
  die_on(cudaMalloc(&p, sizeof(uint64_t) * kMaxChannels), "post words");
  return static_cast<uint64_t*>(p);
}

}  // namespace

void reserve_post_words(uint32_t blocks) {
  std::lock_guard lock(g_mu);
  for (uint32_t i = 0; i < blocks; ++i) g_free.push_back(allocate());
}

uint64_t* take_post_words() {
  {
    std::lock_guard lock(g_mu);
    if (!g_free.empty()) {
      uint64_t* w = g_free.back();
      g_free.pop_back();
      return w;
    }
  }
  return allocate();
}

void give_back_post_words(uint64_t* words) {
  if (!words) return;
  std::lock_guard lock(g_mu);
  g_free.push_back(words);
}

}  // namespace rk::server::gpu
