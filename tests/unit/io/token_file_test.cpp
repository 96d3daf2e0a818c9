#include "kiln/io/token_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io_test_util.h"

namespace kiln {
namespace {

using io::TokenFile;
using io::TokenizerKind;
using test::expect_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

std::int32_t le_i32_at(const std::string& bytes, std::size_t slot) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[slot * 4 + static_cast<std::size_t>(i)]);
  return static_cast<std::int32_t>(v);
}

void set_le_i32(std::string& bytes, std::size_t slot, std::int32_t value) {
  auto v = static_cast<std::uint32_t>(value);
  for (std::size_t i = 0; i < 4; ++i, v >>= 8) bytes[slot * 4 + i] = static_cast<char>(v & 0xFF);
}

/// A valid file of `ids` with vocabulary `vocab`, as raw bytes (for corrupting).
std::string valid_file_bytes(const TempDir& dir, const std::vector<std::uint16_t>& ids, std::int64_t vocab) {
  const auto p = dir / "valid.bin";
  io::write_token_file(p, ids, {.vocab_size = vocab, .tokenizer = TokenizerKind::chars});
  return read_bytes(p);
}

TEST(TokenFile, RoundTripKeepsIdsAndHeader) {
  TempDir dir;
  const std::vector<std::uint16_t> ids = {50256, 15496, 11, 995, 0, 50256, 40};
  io::write_token_file(dir / "t.bin", ids, {.vocab_size = 50257, .tokenizer = TokenizerKind::gpt2});
  const TokenFile f(dir / "t.bin");
  EXPECT_EQ(f.size(), 7);
  EXPECT_EQ(std::vector<std::uint16_t>(f.tokens().begin(), f.tokens().end()), ids);
  EXPECT_EQ(f.header_info().vocab_size, 50257);
  EXPECT_EQ(f.header_info().tokenizer, TokenizerKind::gpt2);
  EXPECT_EQ(f.vocab_size(), 50257);
  EXPECT_EQ(f.path(), dir / "t.bin");
}

TEST(TokenFile, LayoutIsLlmcs) {
  // llm.c's loader reads: int32[256] header, [0] magic, [1] version 1, [2] count, then uint16 ids.
  TempDir dir;
  const std::string bytes = valid_file_bytes(dir, {1, 2, 0x0302}, 1000);
  ASSERT_EQ(bytes.size(), 1024u + 3 * 2);
  EXPECT_EQ(le_i32_at(bytes, 0), 20240520);
  EXPECT_EQ(le_i32_at(bytes, 1), 1);
  EXPECT_EQ(le_i32_at(bytes, 2), 3);
  EXPECT_EQ(le_i32_at(bytes, 3), 1000);  // kiln: vocabulary size
  EXPECT_EQ(le_i32_at(bytes, 4), 2);     // kiln: tokenizer kind (char)
  for (std::size_t slot = 5; slot < 256; ++slot) EXPECT_EQ(le_i32_at(bytes, slot), 0) << "slot " << slot;
  EXPECT_EQ(bytes.substr(1024), std::string("\x01\x00\x02\x00\x02\x03", 6));  // little-endian uint16
}

TEST(TokenFile, EmptyFileHoldsNoTokens) {
  TempDir dir;
  io::write_token_file(dir / "e.bin", {}, {.vocab_size = 10});
  const TokenFile f(dir / "e.bin");
  EXPECT_EQ(f.size(), 0);
  EXPECT_TRUE(f.tokens().empty());
}

TEST(TokenFile, ReadsLlmcFilesWithoutKilnFields) {
  TempDir dir;
  std::string bytes = valid_file_bytes(dir, {7, 60000}, 65536);
  set_le_i32(bytes, 3, 0);
  set_le_i32(bytes, 4, 0);
  write_bytes(dir / "llmc.bin", bytes);
  const TokenFile f(dir / "llmc.bin");
  EXPECT_EQ(f.header_info().vocab_size, 0);
  EXPECT_EQ(f.header_info().tokenizer, TokenizerKind::unrecorded);
  EXPECT_EQ(f.vocab_size(), 0);  // nothing to check against: any uint16 id is accepted
  EXPECT_EQ(f.tokens()[1], 60000);
  // The model's vocabulary still checks the ids.
  expect_error([&] { TokenFile(dir / "llmc.bin", {.vocab_size = 50257}); },
               {"llmc.bin", "offset 1", "id 60000", "50257"});
}

TEST(TokenFile, BadMagicIsRefused) {
  TempDir dir;
  std::string bytes = valid_file_bytes(dir, {1, 2}, 10);
  set_le_i32(bytes, 0, 12345);
  write_bytes(dir / "bad.bin", bytes);
  expect_error([&] { TokenFile f(dir / "bad.bin"); }, {"bad.bin", "magic", "12345", "20240520"});
}

TEST(TokenFile, OtherVersionsAreRefused) {
  TempDir dir;
  std::string bytes = valid_file_bytes(dir, {1, 2}, 10);
  set_le_i32(bytes, 1, 2);
  write_bytes(dir / "v2.bin", bytes);
  expect_error([&] { TokenFile f(dir / "v2.bin"); }, {"v2.bin", "version 2", "uint32"});
}

TEST(TokenFile, TruncatedFileNamesBothSizes) {
  TempDir dir;
  const std::string bytes = valid_file_bytes(dir, {1, 2, 3, 4}, 10);  // 1032 bytes
  write_bytes(dir / "cut.bin", bytes.substr(0, bytes.size() - 3));
  expect_error([&] { TokenFile f(dir / "cut.bin"); }, {"cut.bin", "truncated", "4 tokens", "1032", "1029"});
  write_bytes(dir / "stub.bin", bytes.substr(0, 100));
  expect_error([&] { TokenFile f(dir / "stub.bin"); }, {"stub.bin", "100 bytes", "1024-byte header"});
  write_bytes(dir / "long.bin", bytes + "xx");
  expect_error([&] { TokenFile f(dir / "long.bin"); }, {"long.bin", "1034", "1032", "trailing"});
}

TEST(TokenFile, NegativeCountAndBadKilnFieldsAreRefused) {
  TempDir dir;
  const std::string good = valid_file_bytes(dir, {1}, 10);
  std::string bytes = good;
  set_le_i32(bytes, 2, -1);
  write_bytes(dir / "neg.bin", bytes);
  expect_error([&] { TokenFile f(dir / "neg.bin"); }, {"neg.bin", "-1", "negative"});
  bytes = good;
  set_le_i32(bytes, 3, 70000);
  write_bytes(dir / "vocab.bin", bytes);
  expect_error([&] { TokenFile f(dir / "vocab.bin"); }, {"vocab.bin", "70000", "65536"});
  bytes = good;
  set_le_i32(bytes, 4, 9);
  write_bytes(dir / "kind.bin", bytes);
  expect_error([&] { TokenFile f(dir / "kind.bin"); }, {"kind.bin", "tokenizer kind 9"});
}

TEST(TokenFile, IdOverTheVocabularyNamesTheFirstBadOffset) {
  TempDir dir;
  // Written with a large vocabulary; read against the header of a smaller one and a model's.
  std::string bytes = valid_file_bytes(dir, {3, 4, 9, 12, 10, 2}, 100);
  set_le_i32(bytes, 3, 10);
  write_bytes(dir / "over.bin", bytes);
  expect_error([&] { TokenFile f(dir / "over.bin"); }, {"over.bin", "offset 3", "id 12", "vocabulary size 10", "header"});
  expect_error([&] { TokenFile(dir / "over.bin", {.vocab_size = 5}); }, {"over.bin", "offset 2", "id 9", "5"});
  // The caller's vocabulary replaces the header's.
  EXPECT_EQ(TokenFile(dir / "over.bin", {.vocab_size = 13}).vocab_size(), 13);
  expect_error([&] { TokenFile(dir / "over.bin", {.vocab_size = 0}); }, {"over.bin", "at least 1"});
}

TEST(TokenFile, WriterRefusesBadVocabulariesAndIds) {
  TempDir dir;
  const std::vector<std::uint16_t> ids = {1, 2};
  expect_error([&] { io::write_token_file(dir / "a.bin", ids, {.vocab_size = 65537}); }, {"a.bin", "65537", "65536"});
  expect_error([&] { io::write_token_file(dir / "a.bin", ids, {.vocab_size = 0}); }, {"a.bin", "outside 1..65536"});
  expect_error([&] { io::write_token_file(dir / "a.bin", ids, {.vocab_size = 2}); }, {"a.bin", "offset 1", "id 2"});
  EXPECT_FALSE(std::filesystem::exists(dir / "a.bin"));
  // The full uint16 range is a vocabulary of 65536.
  io::write_token_file(dir / "max.bin", std::vector<std::uint16_t>{65535}, {.vocab_size = 65536});
  EXPECT_EQ(TokenFile(dir / "max.bin").tokens()[0], 65535);
}

TEST(TokenFile, WriteReplacesAtomicallyAndLeavesNoTemporary) {
  TempDir dir;
  io::write_token_file(dir / "r.bin", std::vector<std::uint16_t>{1, 2, 3}, {.vocab_size = 10});
  // A failed write (bad id) leaves the previous file whole.
  expect_error([&] { io::write_token_file(dir / "r.bin", std::vector<std::uint16_t>{11}, {.vocab_size = 10}); },
               {"r.bin"});
  EXPECT_EQ(TokenFile(dir / "r.bin").size(), 3);
  io::write_token_file(dir / "r.bin", std::vector<std::uint16_t>{4}, {.vocab_size = 10});
  EXPECT_EQ(TokenFile(dir / "r.bin").tokens()[0], 4);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
  expect_error([&] { io::write_token_file(dir / "no" / "dir.bin", std::vector<std::uint16_t>{1}, {.vocab_size = 2}); },
               {"dir.bin"});
}

TEST(TokenFile, MissingOrNonRegularFilesAreRefused) {
  TempDir dir;
  expect_error([&] { TokenFile f(dir / "absent.bin"); }, {"absent.bin", "cannot open"});
  expect_error([&] { TokenFile f(dir.path()); }, {"not a regular file"});
}

}  // namespace
}  // namespace kiln
