#include "kiln/io/fortunes.h"

#include <gtest/gtest.h>

#include "io_test_util.h"

namespace kiln {
namespace {

using io::FortuneReader;
using io::read_fortunes;
using test::expect_error;
using test::TempDir;
using test::write_bytes;

TEST(Fortunes, SplitsEntriesOnPercentLines) {
  TempDir dir;
  write_bytes(dir / "wisdom.u8",
              "First.\n%\nTwo\nlines.\n%\n%\n\nLeading blank; 100% sure\n%%\n  %\n%\nLast, no newline");
  const auto fs = read_fortunes(dir / "wisdom.u8");
  ASSERT_EQ(fs.size(), 4u);
  EXPECT_EQ(fs[0].text, "First.");
  EXPECT_EQ(fs[1].text, "Two\nlines.");
  EXPECT_EQ(fs[2].text, "\nLeading blank; 100% sure\n%%\n  %");  // only a bare "%" separates
  EXPECT_EQ(fs[3].text, "Last, no newline");
  for (std::size_t i = 0; i < fs.size(); ++i) {
    EXPECT_EQ(fs[i].category, "wisdom");
    EXPECT_EQ(fs[i].index, i);
  }
}

TEST(Fortunes, StreamsOneEntryAtATime) {
  TempDir dir;
  write_bytes(dir / "c", "%\na\n%\nb\n%\n");
  FortuneReader r(dir / "c");
  EXPECT_EQ(r.category(), "c");
  io::Fortune f;
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.text, "a");
  ASSERT_TRUE(r.next(f));
  EXPECT_EQ(f.text, "b");
  EXPECT_FALSE(r.next(f));
  EXPECT_FALSE(r.next(f));
}

TEST(Fortunes, EmptyFileHasNoEntries) {
  TempDir dir;
  write_bytes(dir / "e", "");
  EXPECT_TRUE(read_fortunes(dir / "e").empty());
}

TEST(Fortunes, Errors) {
  TempDir dir;
  expect_error([&] { FortuneReader r(dir / "none"); }, {"none", "cannot open"});
  write_bytes(dir / "x.dat", std::string("\0\0\0\x02\0\0\0\x05", 8));
  expect_error([&] { read_fortunes(dir / "x.dat"); }, {"x.dat", "NUL byte"});
  expect_error([&] { io::fortune_files(dir / "nodir"); }, {"nodir", "not found"});
}

TEST(Fortunes, ListsTextFilesOnly) {
  TempDir dir;
  write_bytes(dir / "b", "x\n");
  write_bytes(dir / "b.dat", "");
  write_bytes(dir / "a", "y\n");
  std::filesystem::create_symlink("a", dir / "a.u8");
  std::filesystem::create_directory(dir / "off");
  const auto files = io::fortune_files(dir.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "a");
  EXPECT_EQ(files[1].filename(), "b");
}

std::uint32_t be32_at(const std::string& s, std::size_t pos) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  return v;
}

TEST(Fortunes, InstalledFilesMatchTheirStrfileIndexes) {
  if (!std::filesystem::is_directory(io::kFortunesDir)) GTEST_SKIP() << "fortunes not installed";
  const auto files = io::fortune_files();
  ASSERT_FALSE(files.empty());
  for (const auto& p : files) {
    const auto dat = std::filesystem::path(p.string() + ".dat");
    if (!std::filesystem::exists(dat)) continue;
    // strfile header: version, number of strings, ... (big-endian u32).
    const std::string header = test::read_bytes(dat).substr(0, 24);
    ASSERT_EQ(header.size(), 24u) << dat;
    EXPECT_EQ(read_fortunes(p).size(), be32_at(header, 4)) << p;
  }
  const auto path = io::kFortunesDir / "fortunes";
  if (std::filesystem::exists(path)) {
    FortuneReader r(path);
    io::Fortune f;
    ASSERT_TRUE(r.next(f));
    EXPECT_EQ(f.category, "fortunes");
    EXPECT_EQ(f.text, "A day for firm decisions!!!!!  Or is it?");
  }
}

}  // namespace
}  // namespace kiln
