// RAII over libringkernel's C handles, for the ringkernelctl commands
// (release a kernel before its client).
#pragma once
#include <ringkernel/ringkernel.h>

#include <memory>

namespace rk::ctl {

struct ClientClose {
  void operator()(rk_client* c) const { rk_disconnect(c); }
};
struct KernelRelease {
  void operator()(rk_kernel* k) const { rk_kernel_release(k); }
};
struct MessageRelease {
  void operator()(rk_message* m) const { rk_message_release(m); }
};
using ClientPtr = std::unique_ptr<rk_client, ClientClose>;
using KernelPtr = std::unique_ptr<rk_kernel, KernelRelease>;
using MessagePtr = std::unique_ptr<rk_message, MessageRelease>;

}  // namespace rk::ctl
