#include "shm/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstring>

#include "shm/segment_layout.h"

namespace bip = boost::interprocess;

namespace rk::shm {

struct Segment::Impl {
  std::string name;
  bool linked = false;
  // Either a Boost object + region (create/open), or a raw mapping (from_fd).
  bip::shared_memory_object object;
  bip::mapped_region region;
  void* raw = nullptr;
  uint64_t raw_size = 0;
  int raw_fd = -1;

  ~Impl() {
    if (raw) munmap(raw, raw_size);
    if (raw_fd >= 0) close(raw_fd);
    if (linked) bip::shared_memory_object::remove(name.c_str());
  }
  void* data() const { return raw ? raw : region.get_address(); }
  uint64_t size() const { return raw ? raw_size : region.get_size(); }
};

bool prefault(void* p, uint64_t bytes) {
#ifdef MADV_POPULATE_WRITE
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t from = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t to = reinterpret_cast<uintptr_t>(p) + bytes;
  return bytes == 0 || madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE) == 0;
#else
  (void)p;
  (void)bytes;
  return false;
#endif
}

std::string random_segment_name() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += size_t(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string name = "rk-";
  for (unsigned char b : bytes) {
    name += hex[b >> 4];
    name += hex[b & 15];
  }
  return name;
}

Segment::Segment() = default;
Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

Result<Segment> Segment::create(uint64_t bytes, std::optional<uid_t> owner) {
  if (bytes < sizeof(SegmentHeader)) return Errc::invalid_argument;
  auto impl = std::make_unique<Impl>();
  try {
    bip::permissions perm(0600);
    impl->name = random_segment_name();
    impl->object = bip::shared_memory_object(bip::create_only, impl->name.c_str(), bip::read_write, perm);
    impl->linked = true;
    int fd = impl->object.get_mapping_handle().handle;
    // Mode and owner explicitly: the umask must not widen or narrow them.
    if (fchmod(fd, 0600) != 0) return Errc::permission;
    if (owner && fchown(fd, *owner, gid_t(-1)) != 0) return Errc::permission;
    impl->object.truncate(bip::offset_t(bytes));
    impl->region = bip::mapped_region(impl->object, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    return e.get_error_code() == bip::size_error || e.get_error_code() == bip::out_of_space_error
               ? Errc::limit
               : Errc::internal;
  }
  auto* h = static_cast<SegmentHeader*>(impl->data());  // fresh pages are zero
  h->magic = kSegmentMagic;
  h->version = kSegmentLayoutVersion;
  h->total_bytes = bytes;
  Segment s;
  s.impl_ = std::move(impl);
  return s;
}

namespace {
Errc check_header(const void* data, uint64_t mapped) {
  if (mapped < sizeof(SegmentHeader)) return Errc::corrupt;
  SegmentHeader h;
  std::memcpy(&h, data, sizeof h);
  if (h.magic != kSegmentMagic || h.version != kSegmentLayoutVersion) return Errc::corrupt;
  if (h.total_bytes > mapped) return Errc::corrupt;  // shorter than it claims
  return Errc::ok;
}
}  // namespace

Result<Segment> Segment::open(const std::string& name) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->name = name;
    impl->object = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_write);
    bip::offset_t size = 0;
    if (!impl->object.get_size(size) || size < bip::offset_t(sizeof(SegmentHeader))) return Errc::corrupt;
    impl->region = bip::mapped_region(impl->object, bip::read_write);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error) return Errc::not_found;
    if (e.get_error_code() == bip::security_error) return Errc::permission;
    return Errc::internal;
  }
  if (Errc e = check_header(impl->data(), impl->size()); e != Errc::ok) return e;
  // Only an accepted segment takes part in unlinking (either side may; see
  // segment.h): a refused open must not remove the creator's name.
  impl->linked = true;
  Segment s;
  s.impl_ = std::move(impl);
  return s;
}

Result<Segment> Segment::from_fd(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < off_t(sizeof(SegmentHeader))) {
    close(fd);
    return Errc::corrupt;
  }
  void* p = mmap(nullptr, size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return Errc::internal;
  }
  auto impl = std::make_unique<Impl>();
  impl->raw = p;
  impl->raw_size = uint64_t(st.st_size);
  impl->raw_fd = fd;
  if (Errc e = check_header(p, impl->raw_size); e != Errc::ok) return e;
  Segment s;
  s.impl_ = std::move(impl);
  return s;
}

Result<Segment> Segment::create_sealed(uint64_t bytes) {
  if (bytes < sizeof(SegmentHeader)) return Errc::invalid_argument;
  int fd = memfd_create("ringkernel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Errc::internal;
  if (ftruncate(fd, off_t(bytes)) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    close(fd);
    return Errc::internal;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return Errc::internal;
  }
  auto* h = static_cast<SegmentHeader*>(p);
  h->magic = kSegmentMagic;
  h->version = kSegmentLayoutVersion;
  h->total_bytes = bytes;
  auto impl = std::make_unique<Impl>();
  impl->raw = p;
  impl->raw_size = bytes;
  impl->raw_fd = fd;
  Segment s;
  s.impl_ = std::move(impl);
  return s;
}

Errc Segment::unlink() {
  if (!impl_ || !impl_->linked) return Errc::ok;
  impl_->linked = false;
  return bip::shared_memory_object::remove(impl_->name.c_str()) ? Errc::ok : Errc::not_found;
}

void* Segment::data() const { return impl_ ? impl_->data() : nullptr; }
uint64_t Segment::size() const { return impl_ ? impl_->size() : 0; }
const std::string& Segment::name() const {
  static const std::string empty;
  return impl_ ? impl_->name : empty;
}
int Segment::fd() const {
  if (!impl_) return -1;
  return impl_->raw ? impl_->raw_fd : impl_->object.get_mapping_handle().handle;
}
bool Segment::linked() const { return impl_ && impl_->linked; }

}  // namespace rk::shm
