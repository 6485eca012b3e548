// at(field): an atomic view of a plain field of shared memory (control
// pages, ring headers, bells), whose one writer and many readers may sit in
// other processes or on the GPU.
#pragma once
#include <atomic>

namespace rk::shm {

template <class T>
std::atomic_ref<T> at(T& v) {
  return std::atomic_ref<T>(v);
}

}  // namespace rk::shm
