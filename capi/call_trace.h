// Diagnostic (cmake -DRINGKERNEL_CALL_TRACE=ON): where each rk_call's time
// goes on the caller's side. Every call notes five monotonic times, the
// request record's address and the CPU it ran on; at exit the process writes
// them to $RK_CALL_TRACE_DIR/call-<pid>.bin for bench/call_trace.py.
// It tells a request published late (the client's stores stalled) from one
// published on time that the GPU saw late. Off, every hook is empty.
#pragma once
#include <cstdint>

namespace rk::capi::call_trace {

#ifdef RK_CALL_TRACE
void enter();
// The record is written (not yet published).
void written();
// After the tail's store: then a full fence, and the time it drained.
void published(uintptr_t record);
void replied();
#else
inline void enter() {}
inline void written() {}
inline void published(uintptr_t) {}
inline void replied() {}
#endif

}  // namespace rk::capi::call_trace
