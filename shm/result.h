// Result<T>: a value or an Errc, for the fallible calls of the data plane
// (no exceptions on the message path).
#pragma once
#include <utility>

#include "shm/errc.h"

namespace rk {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), err_(Errc::ok) {}  // NOLINT: implicit by design
  Result(Errc err) : value_(), err_(err) {}                     // NOLINT
  bool ok() const { return err_ == Errc::ok; }
  explicit operator bool() const { return ok(); }
  Errc error() const { return err_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T* operator->() { return &value_; }
  T& operator*() { return value_; }

 private:
  T value_;
  Errc err_;
};

}  // namespace rk
