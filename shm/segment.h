// A shared-memory segment (Boost.Interprocess underneath, not exposed here).
//
// Protocol that leaves nothing behind in /dev/shm: the creator makes the
// segment under an unguessable name (128 random bits), mode 0600, owned by
// the peer's uid if given; the peer opens and maps it; then either side
// unlinks the name. A mapping outlives its name, so after the unlink a crash
// of either side frees the memory with the last mapping. The creator's
// destructor unlinks too, in case the peer never came.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shm/result.h"

namespace rk::shm {

class Segment {
 public:
  // Creates and maps a zeroed segment of `bytes`. The first
  // sizeof(SegmentHeader) bytes get a header recording the size.
  static Result<Segment> create(uint64_t bytes, std::optional<uid_t> owner = std::nullopt);
  // Opens and maps an existing segment by name, refusing one that is
  // shorter than its header claims or that has no valid header.
  static Result<Segment> open(const std::string& name);

  Segment();
  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  // Removes the name (idempotent). The mapping stays valid.
  Errc unlink();

  void* data() const;
  uint64_t size() const;
  const std::string& name() const;
  // The descriptor behind the mapping, for passing with SCM_RIGHTS; -1 after
  // close_fd().
  int fd() const;
  bool linked() const;

  // Adopts a mapping of a descriptor received from a peer (SCM_RIGHTS).
  static Result<Segment> from_fd(int fd);
  // An anonymous segment (no name anywhere) whose size is sealed: peers
  // that get its descriptor cannot shrink it under our mapping (SIGBUS).
  // For memory only ever shared as a descriptor (kernel bells, control pages).
  static Result<Segment> create_sealed(uint64_t bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Maps every page of [p, p + bytes) into this process now, writable
// (MADV_POPULATE_WRITE), so that no message's store or load takes the page
// fault of a page's first touch: for a ring, one in every 32 small records
// of its first lap paid one (1.5-3 µs in a VM). Allocates the pages, so
// only for memory that will be used: rings, not a sparse segment's rest.
// Best effort: false where the kernel cannot (before Linux 5.14), and
// nothing changes.
bool prefault(void* p, uint64_t bytes);

// A fresh name: "rk-" followed by 32 hex digits from getrandom().
std::string random_segment_name();

}  // namespace rk::shm
