// Segments: created private (0600) under a random name, opened by name,
// refused when they lie about their size, and gone from /dev/shm once
// unlinked or dropped.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>

#include "shm/segment.h"
#include "shm/segment_layout.h"

namespace rk::shm {
namespace {

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

bool shm_exists(const std::string& name) {
  struct stat st;
  return ::stat(shm_path(name).c_str(), &st) == 0;
}

TEST(ShmSegment, Create_IsMode0600OwnedByCallerWithRequestedSize) {
  const mode_t old_umask = ::umask(0);  // a permissive umask must not widen the mode
  auto s = Segment::create(64 * 1024);
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << errc_string(s.error());

  int fd = ::open(shm_path(s->name()).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << shm_path(s->name());
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  ::close(fd);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::getuid());
  EXPECT_EQ(st.st_size, 64 * 1024);
  EXPECT_EQ(s->size(), 64u * 1024);

  struct stat by_fd;
  ASSERT_EQ(::fstat(s->fd(), &by_fd), 0);
  EXPECT_EQ(by_fd.st_ino, st.st_ino);
}

TEST(ShmSegment, Create_WritesHeaderAndZeroesTheRest) {
  auto s = Segment::create(3 * 4096);
  ASSERT_TRUE(s.ok());
  const auto* h = static_cast<const SegmentHeader*>(s->data());
  EXPECT_EQ(h->magic, kSegmentMagic);
  EXPECT_EQ(h->version, kSegmentLayoutVersion);
  EXPECT_EQ(h->total_bytes, 3u * 4096);
  const auto* bytes = static_cast<const unsigned char*>(s->data());
  size_t nonzero = 0;
  for (size_t i = sizeof(SegmentHeader); i < s->size(); ++i) nonzero += bytes[i] != 0;
  EXPECT_EQ(nonzero, 0u);
}

TEST(ShmSegment, Create_RefusesSizeBelowHeader) {
  EXPECT_EQ(Segment::create(sizeof(SegmentHeader) - 1).error(), Errc::invalid_argument);
}

TEST(ShmSegment, NamesAreRandomAndWellFormed) {
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) {
    std::string n = random_segment_name();
    ASSERT_EQ(n.size(), 3u + 32);
    ASSERT_EQ(n.substr(0, 3), "rk-");
    ASSERT_EQ(n.find_first_not_of("0123456789abcdef", 3), std::string::npos) << n;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), 100u);
}

TEST(ShmSegment, OpenByName_SharesMemoryWithCreator) {
  auto created = Segment::create(8192);
  ASSERT_TRUE(created.ok());
  auto opened = Segment::open(created->name());
  ASSERT_TRUE(opened.ok()) << errc_string(opened.error());
  EXPECT_EQ(opened->size(), 8192u);
  EXPECT_NE(opened->data(), created->data());  // a second mapping...
  static_cast<char*>(created->data())[5000] = 'x';
  EXPECT_EQ(static_cast<char*>(opened->data())[5000], 'x');  // ...of the same pages
  static_cast<char*>(opened->data())[8191] = 'y';
  EXPECT_EQ(static_cast<char*>(created->data())[8191], 'y');
}

TEST(ShmSegment, Unlink_RemovesNameButKeepsMapping) {
  auto created = Segment::create(8192);
  ASSERT_TRUE(created.ok());
  const std::string name = created->name();
  auto opened = Segment::open(name);
  ASSERT_TRUE(opened.ok());
  ASSERT_TRUE(shm_exists(name));

  EXPECT_EQ(opened->unlink(), Errc::ok);
  EXPECT_FALSE(shm_exists(name));
  EXPECT_FALSE(opened->linked());
  EXPECT_EQ(opened->unlink(), Errc::ok);  // idempotent
  EXPECT_EQ(Segment::open(name).error(), Errc::not_found);

  static_cast<char*>(created->data())[4096] = 'z';  // both mappings still live
  EXPECT_EQ(static_cast<char*>(opened->data())[4096], 'z');
  (void)created->unlink();  // the peer already did; this must not disturb anything
  EXPECT_FALSE(created->linked());
  EXPECT_EQ(static_cast<char*>(created->data())[4096], 'z');
}

TEST(ShmSegment, CreatorDestructor_UnlinksName) {
  std::string name;
  {
    auto s = Segment::create(4096);
    ASSERT_TRUE(s.ok());
    name = s->name();
    ASSERT_TRUE(shm_exists(name));
  }
  EXPECT_FALSE(shm_exists(name));
}

TEST(ShmSegment, OpenUnknownName_NotFound) {
  EXPECT_EQ(Segment::open(random_segment_name()).error(), Errc::not_found);
}

TEST(ShmSegment, OpenTruncatedSegment_IsCorrupt) {
  auto s = Segment::create(64 * 1024);
  ASSERT_TRUE(s.ok());
  // A peer shrinks the object below what the header records.
  ASSERT_EQ(::truncate(shm_path(s->name()).c_str(), 16 * 1024), 0);
  EXPECT_EQ(Segment::open(s->name()).error(), Errc::corrupt);
}

TEST(ShmSegment, OpenSegmentSmallerThanHeader_IsCorrupt) {
  auto s = Segment::create(4096);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(::truncate(shm_path(s->name()).c_str(), 64), 0);
  EXPECT_EQ(Segment::open(s->name()).error(), Errc::corrupt);
}

TEST(ShmSegment, OpenWithBadMagicOrVersion_IsCorrupt) {
  auto s = Segment::create(4096);
  ASSERT_TRUE(s.ok());
  auto* h = static_cast<SegmentHeader*>(s->data());
  h->magic = 0;
  EXPECT_EQ(Segment::open(s->name()).error(), Errc::corrupt);
  h->magic = kSegmentMagic;
  h->version = kSegmentLayoutVersion + 1;
  EXPECT_EQ(Segment::open(s->name()).error(), Errc::corrupt);
  h->version = kSegmentLayoutVersion;
  EXPECT_TRUE(Segment::open(s->name()).ok());
}

TEST(ShmSegment, RefusedOpen_LeavesCreatorsNameInPlace) {
  auto s = Segment::create(4096);
  ASSERT_TRUE(s.ok());
  static_cast<SegmentHeader*>(s->data())->version = kSegmentLayoutVersion + 1;  // e.g. a newer creator
  EXPECT_EQ(Segment::open(s->name()).error(), Errc::corrupt);
  EXPECT_TRUE(shm_exists(s->name()));  // a peer that cannot use it must not destroy it
  EXPECT_TRUE(s->linked());
}

TEST(ShmSegment, FromFd_MapsSameMemoryAndChecksHeader) {
  auto s = Segment::create(8192);
  ASSERT_TRUE(s.ok());
  auto adopted = Segment::from_fd(::dup(s->fd()));
  ASSERT_TRUE(adopted.ok()) << errc_string(adopted.error());
  EXPECT_EQ(adopted->size(), 8192u);
  static_cast<char*>(s->data())[7000] = 'q';
  EXPECT_EQ(static_cast<char*>(adopted->data())[7000], 'q');

  ASSERT_EQ(::ftruncate(s->fd(), 4096), 0);  // now shorter than its header says
  EXPECT_EQ(Segment::from_fd(::dup(s->fd())).error(), Errc::corrupt);
}

TEST(ShmSegment, MoveTransfersOwnership) {
  auto s = Segment::create(4096);
  ASSERT_TRUE(s.ok());
  const std::string name = s->name();
  Segment moved = std::move(s.value());
  EXPECT_EQ(moved.name(), name);
  EXPECT_TRUE(moved.linked());
  EXPECT_EQ(s->data(), nullptr);  // NOLINT: testing the moved-from state
  EXPECT_EQ(s->size(), 0u);
  EXPECT_EQ(s->unlink(), Errc::ok);  // a moved-from segment owns nothing
  EXPECT_TRUE(shm_exists(name));
}

// How many of the `pages` pages from `p` this process has mapped (present in
// its page table, /proc/self/pagemap bit 63), whatever their contents: a
// page not mapped costs a fault on its first touch.
long mapped_pages(const volatile char* p, uint64_t pages) {
  const long page = sysconf(_SC_PAGESIZE);
  const int fd = ::open("/proc/self/pagemap", O_RDONLY);
  if (fd < 0) return -1;
  long mapped = 0;
  for (uint64_t i = 0; i < pages; ++i) {
    uint64_t entry = 0;
    const off_t at = off_t((reinterpret_cast<uintptr_t>(p) / uintptr_t(page) + i) * sizeof entry);
    if (::pread(fd, &entry, sizeof entry, at) != sizeof entry) {
      ::close(fd);
      return -1;
    }
    mapped += (entry >> 63) & 1;
  }
  ::close(fd);
  return mapped;
}

// A ring's pages, prefaulted, are all mapped before anything touches them,
// so no message pays a page fault for them; the same pages in a second
// fresh mapping of the segment are not (which shows the count can see it).
TEST(ShmSegment, Prefault_MapsEveryPageOfTheRangeBeforeAnyTouch) {
  // The ring starts well past the header page that from_fd reads: a read
  // fault may map up to 16 neighbouring pages (the kernel's fault-around).
  constexpr uint64_t kPages = 256, kPage = 4096, kRingAt = 32 * kPage, kBytes = kRingAt + kPages * kPage;
  auto s = Segment::create(kBytes);
  ASSERT_TRUE(s.ok());
  auto mine = Segment::from_fd(::dup(s->fd())), other = Segment::from_fd(::dup(s->fd()));
  ASSERT_TRUE(mine.ok() && other.ok());
  auto* ring = static_cast<volatile char*>(mine->data()) + kRingAt;
  auto* untouched = static_cast<volatile char*>(other->data()) + kRingAt;
  if (mapped_pages(ring, 1) < 0) GTEST_SKIP() << "no /proc/self/pagemap";
  EXPECT_EQ(mapped_pages(ring, kPages), 0);
  if (!prefault(const_cast<char*>(ring), kPages * kPage)) GTEST_SKIP() << "no MADV_POPULATE_WRITE before Linux 5.14";
  EXPECT_EQ(mapped_pages(ring, kPages), long(kPages));
  EXPECT_EQ(mapped_pages(untouched, kPages), 0);
  ring[(kPages - 1) * kPage] = 7;
  EXPECT_EQ(untouched[(kPages - 1) * kPage], 7);  // one memory, both mappings
}

}  // namespace
}  // namespace rk::shm

namespace {

// Memory shared only as a descriptor must not be shrinkable by the peer
// that receives it: a shrink would SIGBUS whoever still maps it.
TEST(ShmSealedSegment, PeerCannotShrinkOrGrowIt) {
  auto s = rk::shm::Segment::create_sealed(8192);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->name().empty() || !s->linked());
  EXPECT_NE(ftruncate(s->fd(), 0), 0);
  EXPECT_NE(ftruncate(s->fd(), 1 << 20), 0);
  auto peer = rk::shm::Segment::from_fd(dup(s->fd()));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->size(), 8192u);
}

}  // namespace
