#include "kiln/io/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include "io_test_util.h"

namespace kiln {
namespace {

using io::load_idx_dataset;
using io::read_idx;
using test::expect_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

/// IDX bytes: magic 00 00 type ndims, big-endian dims, then `data`.
std::string idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims, const std::string& data) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (const auto d : dims) s += be32(d);
  return s + data;
}

std::string images_bytes(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  std::string data(static_cast<std::size_t>(n) * rows * cols, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 256);
  return idx_bytes(0x08, {n, rows, cols}, data);
}

std::string labels_bytes(const std::vector<std::uint8_t>& labels) {
  return idx_bytes(0x08, {static_cast<std::uint32_t>(labels.size())}, std::string(labels.begin(), labels.end()));
}

/// Writes `bytes` gzip-compressed through zlib's gz* API.
void write_gz(const std::filesystem::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

TEST(Idx, ReadsPlainAndGzippedFiles) {
  TempDir dir;
  const std::string bytes = images_bytes(3, 4, 5);
  write_bytes(dir / "a.idx", bytes);
  write_gz(dir / "a.idx.gz", bytes);
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const auto a = read_idx(dir / name);
    EXPECT_EQ(a.type_code, 0x08) << name;
    EXPECT_EQ(a.dims, (Shape{3, 4, 5})) << name;
    EXPECT_EQ(std::string(a.data.begin(), a.data.end()), bytes.substr(16)) << name;
  }
  // Gzip is detected by content, not by name.
  write_gz(dir / "plain-name.idx", bytes);
  EXPECT_EQ(read_idx(dir / "plain-name.idx").data.size(), 60u);
}

TEST(Idx, ReadsConcatenatedGzipMembers) {
  TempDir dir;
  const std::string bytes = images_bytes(2, 3, 3);
  write_gz(dir / "p1.gz", bytes.substr(0, 10));
  write_gz(dir / "p2.gz", bytes.substr(10));
  write_bytes(dir / "both.gz", read_bytes(dir / "p1.gz") + read_bytes(dir / "p2.gz"));
  EXPECT_EQ(read_idx(dir / "both.gz").dims, (Shape{2, 3, 3}));
}

TEST(Idx, OtherTypeCodesKeepRawBytes) {
  TempDir dir;
  write_bytes(dir / "f.idx", idx_bytes(0x0D, {2}, std::string(8, '\x01')));
  const auto a = read_idx(dir / "f.idx");
  EXPECT_EQ(a.type_code, 0x0D);
  EXPECT_EQ(a.data.size(), 8u);
  write_bytes(dir / "u.idx", idx_bytes(0x0A, {2}, "ab"));
  expect_error([&] { read_idx(dir / "u.idx"); }, {"u.idx", "unknown IDX type code 0x0a"});
}

TEST(Idx, MissingFile) {
  TempDir dir;
  expect_error([&] { read_idx(dir / "none.gz"); }, {"none.gz", "no such file"});
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  write_bytes(dir / "x.idx", "PK\x03\x04 not an idx file");
  expect_error([&] { read_idx(dir / "x.idx"); }, {"x.idx", "bad magic 0x504b0304"});
  // A valid IDX file of the wrong kind (labels given as images).
  write_bytes(dir / "labels", labels_bytes({1, 2}));
  write_bytes(dir / "images", images_bytes(2, 2, 2));
  expect_error([&] { load_idx_dataset(dir / "labels", dir / "images"); },
               {"labels", "wrong magic 0x00000801, expected 0x00000803"});
  expect_error([&] { load_idx_dataset(dir / "images", dir / "images"); },
               {"images", "wrong magic 0x00000803, expected 0x00000801"});
}

TEST(Idx, TruncatedFiles) {
  TempDir dir;
  const std::string bytes = images_bytes(3, 4, 5);
  write_bytes(dir / "empty.idx", "");
  expect_error([&] { read_idx(dir / "empty.idx"); }, {"empty.idx", "truncated"});
  write_bytes(dir / "hdr.idx", bytes.substr(0, 10));
  expect_error([&] { read_idx(dir / "hdr.idx"); }, {"hdr.idx", "truncated inside the header"});
  write_bytes(dir / "data.idx", bytes.substr(0, bytes.size() - 1));
  expect_error([&] { read_idx(dir / "data.idx"); }, {"data.idx", "truncated", "call for 60", "holds 59"});
  write_gz(dir / "data.gz", bytes.substr(0, bytes.size() - 1));
  expect_error([&] { read_idx(dir / "data.gz"); }, {"data.gz", "truncated", "decompressed file holds 59"});
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  const std::string bytes = images_bytes(3, 4, 5) + "x";
  write_bytes(dir / "t.idx", bytes);
  expect_error([&] { read_idx(dir / "t.idx"); }, {"t.idx", "trailing bytes", "call for 60"});
  write_gz(dir / "t.gz", bytes);
  expect_error([&] { read_idx(dir / "t.gz"); }, {"t.gz", "trailing bytes"});
}

TEST(Idx, HugeDimensionsDoNotAllocate) {
  TempDir dir;
  write_bytes(dir / "h.idx", idx_bytes(0x0E, {0xffffffff, 0xffffffff, 0xffffffff}, "abc"));
  expect_error([&] { read_idx(dir / "h.idx"); }, {"h.idx", "more data than can exist"});
  write_bytes(dir / "big.idx", idx_bytes(0x08, {0xffffffff, 0xffff}, "abc"));
  expect_error([&] { read_idx(dir / "big.idx"); }, {"big.idx", "truncated", "holds 3"});
}

TEST(Idx, GzNameButNotGzip) {
  TempDir dir;
  write_bytes(dir / "n.gz", images_bytes(1, 2, 2));
  expect_error([&] { read_idx(dir / "n.gz"); }, {"n.gz", "not gzip-compressed"});
}

TEST(Idx, CorruptGzipStreams) {
  TempDir dir;
  write_gz(dir / "ok.gz", images_bytes(4, 8, 8));
  const std::string good = read_bytes(dir / "ok.gz");
  // Reserved block type (BTYPE = 11) in the first deflate block after the 10-byte header.
  std::string bad_block = good;
  bad_block[10] = static_cast<char>(bad_block[10] | 0x06);
  write_bytes(dir / "block.gz", bad_block);
  expect_error([&] { read_idx(dir / "block.gz"); }, {"block.gz", "corrupt gzip stream", "invalid block type"});
  // Wrong CRC-32 in the trailer.
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(bad_crc[bad_crc.size() - 8] ^ 0xff);
  write_bytes(dir / "crc.gz", bad_crc);
  expect_error([&] { read_idx(dir / "crc.gz"); }, {"crc.gz", "corrupt gzip stream", "incorrect data check"});
  // Compressed stream cut short.
  write_bytes(dir / "cut.gz", good.substr(0, good.size() - 12));
  expect_error([&] { read_idx(dir / "cut.gz"); }, {"cut.gz", "truncated"});
  // Garbage after a complete member.
  write_bytes(dir / "junk.gz", good + "junk");
  expect_error([&] { read_idx(dir / "junk.gz"); }, {"junk.gz", "corrupt gzip stream"});
}

TEST(Idx, LoadsDataset) {
  TempDir dir;
  write_gz(dir / "img.gz", images_bytes(3, 2, 4));
  write_bytes(dir / "lab", labels_bytes({0, 9, 3}));
  const auto ds = load_idx_dataset(dir / "img.gz", dir / "lab");
  EXPECT_EQ(ds.images.dtype(), DType::u8);
  EXPECT_EQ(ds.images.shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(ds.images.to_vector<std::int64_t>()[1], 7);
  EXPECT_EQ(ds.labels.dtype(), DType::i64);
  EXPECT_EQ(ds.labels.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 9, 3}));
}

TEST(Idx, LabelOutOfRange) {
  TempDir dir;
  write_bytes(dir / "img", images_bytes(3, 2, 2));
  write_bytes(dir / "lab", labels_bytes({0, 10, 3}));
  expect_error([&] { load_idx_dataset(dir / "img", dir / "lab"); }, {"lab", "label 10 at index 1", "[0, 10)"});
  EXPECT_NO_THROW(load_idx_dataset(dir / "img", dir / "lab", 11));
  expect_error([&] { load_idx_dataset(dir / "img", dir / "lab", 0); }, {"num_classes"});
}

TEST(Idx, CountMismatch) {
  TempDir dir;
  write_bytes(dir / "img", images_bytes(3, 2, 2));
  write_bytes(dir / "lab", labels_bytes({0, 1}));
  expect_error([&] { load_idx_dataset(dir / "img", dir / "lab"); },
               {(dir / "img").string(), "3 images", (dir / "lab").string(), "2 labels"});
}

TEST(Idx, FashionMnistMissingFileSuggestsPackage) {
  TempDir dir;
  expect_error([&] { io::load_fashion_mnist(dir.path(), false); },
               {"t10k-images-idx3-ubyte.gz", "no such file", "apt-get install dataset-fashion-mnist"});
}

TEST(Idx, RealFashionMnistTestSplit) {
  if (!std::filesystem::exists(io::kFashionMnistDir / "t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  }
  const auto ds = io::load_fashion_mnist(false);
  EXPECT_EQ(ds.images.shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ(ds.labels.shape(), (Shape{10000}));
  const auto labels = ds.labels.to_vector<std::int64_t>();
  EXPECT_EQ(labels[0], 9);  // the first test image is an ankle boot
  std::vector<int> counts(10, 0);
  for (const auto l : labels) ++counts[static_cast<std::size_t>(l)];
  for (const int c : counts) EXPECT_EQ(c, 1000);  // the test split is balanced
}

}  // namespace
}  // namespace kiln
