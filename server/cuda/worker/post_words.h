// The words through which a kernel's blocks learn of new requests, one per
// channel slot (pending_word(): the channel's key and its newest request
// tail). The scout writes them from the GPU (mapped); the staging bridge
// writes them with stream-ordered cuStreamWriteValue64 (staged), which
// refuses memory from the stream-ordered allocator. And cudaFree waits for
// the whole device, which never idles while persistent kernels run. So
// blocks of words are cudaMalloc'd, a few at start-up before any kernel
// runs, and recycled, never freed.
#pragma once
#include <cstdint>

namespace rk::server::gpu {

// Allocates `blocks` blocks ahead (call before any kernel runs).
void reserve_post_words(uint32_t blocks);
// A block of kMaxChannels words (not zeroed), or one more cudaMalloc'd.
uint64_t* take_post_words();
// For the next kernel: call only after the kernel that used it has exited
// and nothing posts to it any more.
void give_back_post_words(uint64_t* words);

}  // namespace rk::server::gpu
