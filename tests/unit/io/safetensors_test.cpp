#include "kiln/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "io_test_util.h"
#include "kiln/ops/ops.h"

namespace kiln {
namespace {

using io::SafetensorsFile;
using io::save_safetensors;
using test::expect_error;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

const std::filesystem::path kFixtures = KILN_FIXTURES_DIR;

std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

/// A safetensors file from a header text and `data_size` zero bytes of data.
std::string st_bytes(const std::string& header, std::size_t data_size) {
  return le64(header.size()) + header + std::string(data_size, '\0');
}

// ---- reading -------------------------------------------------------------

TEST(Safetensors, ReadsFixtureEntriesAndZeroCopyTensors) {
  const auto f = SafetensorsFile::open(kFixtures / "lstm-expected.safetensors");
  ASSERT_TRUE(f.contains("x"));
  EXPECT_FALSE(f.contains("nope"));
  const auto& e = f.entry("x");
  EXPECT_EQ(e.dtype, "F32");
  EXPECT_EQ(e.shape, (Shape{3, 7, 8}));
  EXPECT_EQ(e.end - e.begin, 3u * 7 * 8 * 4);
  // Entries are in offset order and tile the data section.
  std::uint64_t pos = 0;
  for (const auto& en : f.entries()) {
    EXPECT_EQ(en.begin, pos) << en.name;
    pos = en.end;
  }
  const Tensor x = f.tensor("x");
  EXPECT_EQ(x.dtype(), DType::f32);
  EXPECT_EQ(x.shape(), (Shape{3, 7, 8}));
  const auto raw = f.bytes("x");
  EXPECT_EQ(x.raw_data(), static_cast<const void*>(raw.data()));  // zero-copy
  float first = 0;
  std::memcpy(&first, raw.data(), 4);
  EXPECT_EQ(x.to_vector<float>()[0], first);
  expect_error([&] { f.tensor("nope"); }, {"lstm-expected.safetensors", "no tensor named 'nope'"});
}

TEST(Safetensors, TensorOutlivesFileAndWritesDoNotReachTheFile) {
  TempDir dir;
  const auto path = dir / "a.safetensors";
  save_safetensors(path, {{"w", Tensor::from_vector<float>({1, 2, 3}, {3})}});
  const std::string before = read_bytes(path);
  Tensor w;
  {
    const auto f = SafetensorsFile::open(path);
    w = f.tensor("w");
  }
  fill_(w, 7.0);  // copy-on-write mapping: private to this process
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{7, 7, 7}));
  EXPECT_EQ(read_bytes(path), before);
}

TEST(Safetensors, MetadataIsRead) {
  const auto f = SafetensorsFile::open(kFixtures / "tiny-bert" / "model.safetensors");
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST(Safetensors, HeaderOrderNeedNotMatchOffsetOrder) {
  TempDir dir;
  const auto path = dir / "order.safetensors";
  write_bytes(path, st_bytes(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},)"
                             R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                             R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[3,3]}})",
                             3));
  const auto f = SafetensorsFile::open(path);
  ASSERT_EQ(f.entries().size(), 3u);
  EXPECT_EQ(f.entries()[0].name, "a");
  EXPECT_EQ(f.entries()[1].name, "b");
  EXPECT_EQ(f.entries()[2].name, "e");
  EXPECT_EQ(f.tensor("e").shape(), (Shape{0, 5}));
}

TEST(Safetensors, EmptyHeaderIsValid) {
  TempDir dir;
  const auto path = dir / "empty.safetensors";
  write_bytes(path, st_bytes("{}      ", 0));
  EXPECT_TRUE(SafetensorsFile::open(path).entries().empty());
}

TEST(Safetensors, DtypesWithoutKilnEquivalentAreListedButNotTensors) {
  TempDir dir;
  const auto path = dir / "f8.safetensors";
  write_bytes(path, st_bytes(R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]},)"
                             R"("s":{"dtype":"U16","shape":[2],"data_offsets":[4,8]},)"
                             R"("n":{"dtype":"F4","shape":[4],"data_offsets":[8,10]}})",
                             10));
  const auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f.entry("q").dtype, "F8_E4M3");
  EXPECT_EQ(f.bytes("q").size(), 4u);
  EXPECT_EQ(f.bytes("n").size(), 2u);
  expect_error([&] { f.tensor("q"); }, {"f8.safetensors", "'q'", "F8_E4M3", "no dtype"});
  expect_error([&] { f.tensor("s"); }, {"'s'", "U16"});
}

TEST(Safetensors, BoolBytesOtherThanZeroOrOneAreRejected) {
  TempDir dir;
  const auto path = dir / "bool.safetensors";
  std::string bytes = st_bytes(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", 2);
  bytes.back() = '\x02';
  write_bytes(path, bytes);
  expect_error([&] { SafetensorsFile::open(path).tensor("m"); }, {"bool.safetensors", "'m'", "byte 2"});
}

// ---- round trips -----------------------------------------------------------

class FixtureRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureRoundTrip, ReadWriteIsByteIdentical) {
  const auto src = kFixtures / GetParam();
  TempDir dir;
  const auto copy = dir / "copy.safetensors";
  std::filesystem::copy_file(src, copy);
  const auto f = SafetensorsFile::open(copy);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& e : f.entries()) tensors.emplace_back(e.name, f.tensor(e.name));
  const auto out = dir / "out.safetensors";
  save_safetensors(out, tensors, f.metadata());
  EXPECT_EQ(read_bytes(out), read_bytes(src));
  // Overwriting the source file in place (its own tensors still mapped) also works.
  save_safetensors(copy, tensors, f.metadata());
  EXPECT_EQ(read_bytes(copy), read_bytes(src));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureRoundTrip,
                         ::testing::Values("lstm-expected.safetensors", "conv-bn-pool-expected.safetensors",
                                           "optim-expected.safetensors", "tiny-bert/model.safetensors"));

// ---- writing ---------------------------------------------------------------

TEST(Safetensors, WriterMatchesReferenceLayout) {
  // Expected bytes follow the Python safetensors writer: dtype descending in the
  // format's enum order (I64 > F64 > F32 > I32 > BF16 > F16 > U8 > BOOL), then name;
  // "__metadata__" first; header padded with spaces to a multiple of 8.
  TempDir dir;
  const auto path = dir / "mixed.safetensors";
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"m", Tensor::from_vector<bool>({true}, {1})},
      {"c", Tensor::from_vector<std::uint8_t>({1, 2, 3}, {3})},
      {"f", Tensor::from_vector<f16>({f16(1.0f)}, {1})},
      {"h", Tensor::from_vector<bf16>({bf16(2.0f)}, {1})},
      {"i", Tensor::from_vector<std::int32_t>({5}, {1, 1})},
      {"b2", Tensor::from_vector<float>({1, 2}, {2})},
      {"b1", Tensor::from_vector<float>({3}, {})},
      {"z", Tensor::from_vector<double>({4}, {1})},
      {"a", Tensor::from_vector<std::int64_t>({6}, {1})},
  };
  save_safetensors(path, tensors, {{"format", "pt"}, {"b", "x\"y\n"}});
  const std::string header =
      R"({"__metadata__":{"b":"x\"y\n","format":"pt"},)"
      R"("a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
      R"("z":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},)"
      R"("b1":{"dtype":"F32","shape":[],"data_offsets":[16,20]},)"
      R"("b2":{"dtype":"F32","shape":[2],"data_offsets":[20,28]},)"
      R"("i":{"dtype":"I32","shape":[1,1],"data_offsets":[28,32]},)"
      R"("h":{"dtype":"BF16","shape":[1],"data_offsets":[32,34]},)"
      R"("f":{"dtype":"F16","shape":[1],"data_offsets":[34,36]},)"
      R"("c":{"dtype":"U8","shape":[3],"data_offsets":[36,39]},)"
      R"("m":{"dtype":"BOOL","shape":[1],"data_offsets":[39,40]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8 + padded.size());
  EXPECT_EQ(bytes.substr(0, 8), le64(padded.size()));
  EXPECT_EQ(bytes.substr(8, padded.size()), padded);
  EXPECT_EQ(bytes.size(), 8 + padded.size() + 40);

  const auto f = SafetensorsFile::open(path);
  for (const auto& [name, t] : tensors) {
    const Tensor r = f.tensor(name);
    EXPECT_EQ(r.dtype(), t.dtype()) << name;
    EXPECT_EQ(r.shape(), t.shape()) << name;
    EXPECT_EQ(r.to_vector<double>(), t.to_vector<double>()) << name;
  }
  EXPECT_EQ(f.metadata().at("b"), "x\"y\n");
}

TEST(Safetensors, WriterMakesViewsContiguous) {
  TempDir dir;
  const auto path = dir / "t.safetensors";
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  save_safetensors(path, {{"xt", x.t()}, {"col", x.slice(1, 1, 2)}});
  const auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f.tensor("xt").shape(), (Shape{3, 2}));
  EXPECT_EQ(f.tensor("xt").to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(f.tensor("col").to_vector<float>(), (std::vector<float>{2, 5}));
}

TEST(Safetensors, WriterLeavesNoTemporaryFiles) {
  TempDir dir;
  save_safetensors(dir / "a.safetensors", {{"w", Tensor::zeros({2})}});
  save_safetensors(dir / "a.safetensors", {{"w", Tensor::ones({3})}});
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
  EXPECT_EQ(SafetensorsFile::open(dir / "a.safetensors").tensor("w").shape(), (Shape{3}));
}

TEST(Safetensors, WriterRejectsBadInput) {
  TempDir dir;
  const auto path = dir / "bad.safetensors";
  expect_error([&] { save_safetensors(path, {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}); },
               {"bad.safetensors", "'a'", "twice"});
  expect_error([&] { save_safetensors(path, {{"__metadata__", Tensor::zeros({1})}}); }, {"reserved"});
  expect_error([&] { save_safetensors(path, {{"u", Tensor()}}); }, {"'u'", "undefined"});
  expect_error([&] { save_safetensors(path, {{"\xff", Tensor::zeros({1})}}); }, {"UTF-8"});
  expect_error([&] { save_safetensors(dir / "missing-dir" / "x.safetensors", {}); }, {"missing-dir"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---- malformed files -------------------------------------------------------

struct Malformed {
  const char* name;
  std::string bytes;
  const char* problem;  // a piece of the expected message
};

class MalformedFile : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedFile, ErrorNamesFileAndProblem) {
  const Malformed& c = GetParam();
  TempDir dir;
  const auto path = dir / (std::string(c.name) + ".safetensors");
  write_bytes(path, c.bytes);
  expect_error([&] { SafetensorsFile::open(path); }, {path.string(), c.problem});
}

const char* const kU8x4 = R"("dtype":"U8","shape":[4])";

std::vector<Malformed> malformed_cases() {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string two = std::string(R"({"a":{)") + kU8x4 + R"(,"data_offsets":[0,4]},"b":{)" + kU8x4;
  return {
      {"empty", "", "too small"},
      {"truncated_length", std::string("\x08\x00\x00", 3), "too small"},
      {"header_past_end", le64(ok.size() + 1) + ok, "runs past the end"},
      {"header_too_large", le64(100'000'001) + ok, "exceeds the limit"},
      {"data_truncated", st_bytes(ok, 4), "run past the end of the 4-byte data section"},
      {"not_utf8", st_bytes("{\"\xff\":1}", 0), "not valid UTF-8"},
      {"bad_json", st_bytes(R"({"a":{"dtype":)", 0), "not valid JSON"},
      {"not_object", st_bytes("[1,2,3]", 0), "not a JSON object"},
      {"entry_not_object", st_bytes(R"({"a":3})", 0), "must be a JSON object"},
      {"unknown_dtype", st_bytes(R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype"},
      {"missing_dtype", st_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "missing \"dtype\""},
      {"missing_shape", st_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "missing \"shape\""},
      {"missing_offsets", st_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "missing \"data_offsets\""},
      {"negative_dim", st_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
       "non-negative integer"},
      {"float_dim", st_bytes(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
       "non-negative integer"},
      {"three_offsets", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8),
       "must be [begin, end]"},
      {"size_mismatch", st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "needs 12 bytes but data_offsets [0, 8] span 8"},
      {"shape_overflow",
       st_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8), "overflows"},
      {"end_before_begin", st_bytes(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", 8),
       "end before begin"},
      {"overlapping", st_bytes(two + R"(,"data_offsets":[2,6]}})", 6), "overlap tensor 'a'"},
      {"gapped", st_bytes(two + R"(,"data_offsets":[5,9]}})", 9), "gap in the data section"},
      {"not_from_zero", st_bytes(std::string(R"({"a":{)") + kU8x4 + R"(,"data_offsets":[2,6]}})", 6),
       "data starts at 0"},
      {"trailing_bytes", st_bytes(ok, 12), "trailing bytes"},
      {"duplicate_key", st_bytes(two + R"(,"data_offsets":[4,8]},"a":{)" + kU8x4 + R"(,"data_offsets":[0,4]}})", 8),
       "appears twice"},
      {"metadata_not_object", st_bytes(R"({"__metadata__":[1]})", 0), "\"__metadata__\" must be an object"},
      {"metadata_not_string", st_bytes(R"({"__metadata__":{"k":1}})", 0), "value for 'k' must be a string"},
  };
}

INSTANTIATE_TEST_SUITE_P(Safetensors, MalformedFile, ::testing::ValuesIn(malformed_cases()),
                         [](const ::testing::TestParamInfo<Malformed>& info) { return std::string(info.param.name); });

// ---- names from the file: UTF-8 only, escaped wherever a message quotes them ----

TEST(Safetensors, NamesAndKeysThatAreNotUtf8AreRefusedShowingTheBytes) {
  TempDir dir;
  const auto path = dir / "bad-name.safetensors";
  // A tensor name: `{"model.` is 8 bytes, so the bad byte is at header offset 8.
  write_bytes(path, st_bytes("{\"model.\xff" R"(weight":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1));
  expect_error([&] { SafetensorsFile::open(path); },
               {path.string(), "not valid UTF-8", "byte 0xff at header offset 8", "\"model.\\xffweight\""});
  test::expect_terminal_safe(test::error_message([&] { SafetensorsFile::open(path); }));
  // A metadata key (an overlong '/') and a metadata value (a truncated character).
  write_bytes(path, st_bytes("{\"__metadata__\":{\"k\xc0\xafy\":\"v\"}}", 0));
  expect_error([&] { SafetensorsFile::open(path); }, {path.string(), "byte 0xc0", "\"k\\xc0\\xafy\""});
  write_bytes(path, st_bytes("{\"__metadata__\":{\"k\":\"\xe4\xb8\"}}", 0));
  expect_error([&] { SafetensorsFile::open(path); }, {path.string(), "byte 0xe4", "\"\\xe4\\xb8\""});
}

TEST(Safetensors, ControlCharactersInNamesAreKeptButEscapedInMessages) {
  // JSON escapes put an OSC title sequence in the name; raw UTF-8 adds a C1 CSI
  // (U+009B) and a right-to-left override (U+202E). All valid JSON and UTF-8.
  const std::string json_name = R"(w\u001b]0;pwned\u0007)" "\xc2\x9b\xe2\x80\xae";
  const std::string name = "w\x1b]0;pwned\x07\xc2\x9b\xe2\x80\xae";
  const std::string shown = "'w\\x1b]0;pwned\\x07\\u{9b}\\u{202e}'";
  TempDir dir;
  const auto path = dir / "hostile.safetensors";
  const auto entry = [](const std::string& key, const std::string& dtype, int begin, int end) {
    return "\"" + key + R"(":{"dtype":")" + dtype + R"(","shape":[)" + std::to_string(end - begin) +
           R"(],"data_offsets":[)" + std::to_string(begin) + "," + std::to_string(end) + "]}";
  };
  write_bytes(path, st_bytes("{" + entry(json_name, "U8", 0, 2) + R"(,"__metadata__":{")" + json_name + "\":\"" +
                                 json_name + "\"}}",
                             2));
  const auto f = SafetensorsFile::open(path);
  ASSERT_EQ(f.entries().size(), 1u);
  EXPECT_EQ(f.entries()[0].name, name);  // read as it is: only printing escapes
  EXPECT_EQ(f.metadata().at(name), name);
  EXPECT_EQ(f.bytes(name).size(), 2u);

  const auto expect_shown = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
    write_bytes(path, bytes);
    const std::string msg = test::error_message([&] { SafetensorsFile::open(path); });
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg << " lacks " << p;
    test::expect_terminal_safe(msg);
  };
  expect_shown(st_bytes("{" + entry(json_name, "F33", 0, 2) + "}", 2), {"tensor " + shown, "unknown dtype"});
  // A dtype from the file is shown as ASCII-only JSON.
  expect_shown(st_bytes("{" + entry("a", R"(\u001b[2J)" "\xe2\x80\xae", 0, 2) + "}", 2),
               {"unknown dtype \"\\u001b[2J\\u202e\""});
  expect_shown(st_bytes("{" + entry(json_name, "U8", 0, 2) + "," + entry("b", "U8", 1, 3) + "}", 3),
               {"tensor 'b'", "overlap tensor " + shown});
  expect_shown(st_bytes("{" + entry(json_name, "U8", 2, 4) + "}", 4), {"tensor " + shown, "data starts at 0"});
  expect_shown(st_bytes("{" + entry(json_name, "U8", 0, 2) + "," + entry(json_name, "U8", 2, 4) + "}", 4),
               {"key " + shown + " appears twice"});
  expect_shown(st_bytes(R"({"__metadata__":{")" + json_name + R"(":1}})", 0), {"value for " + shown});
  // The JSON parser quotes the raw text it stopped at: raw ESC, C1 and RLO here.
  expect_shown(st_bytes("{\"a\x1b]0;pwned\x07\":1}", 0), {"not valid JSON"});
  expect_shown(st_bytes("{\"a\":\xc2\x9b\xe2\x80\xae}", 0), {"not valid JSON"});
  expect_shown(st_bytes("{\"a\":\"\xe2\x80\xae\x1b[2J", 0), {"not valid JSON"});
  // Lookups quote the name they were given.
  expect_error([&] { f.tensor("\x1b[2J"); }, {"no tensor named '\\x1b[2J'"});
}

TEST(Safetensors, WriterNamesTextThatIsNotUtf8) {
  TempDir dir;
  const auto path = dir / "w.safetensors";
  expect_error([&] { save_safetensors(path, {{"w\xff", Tensor::zeros({1})}}); },
               {"w.safetensors", "tensor name 'w\\xff' is not valid UTF-8"});
  expect_error([&] { save_safetensors(path, {}, {{"k\xc0", "v"}}); }, {"metadata key 'k\\xc0' is not valid UTF-8"});
  expect_error([&] { save_safetensors(path, {}, {{"k", "\xff"}}); }, {"metadata value for 'k' is not valid UTF-8"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, MissingFileIsAnError) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir / "none.safetensors"); }, {"none.safetensors", "cannot open"});
}

}  // namespace
}  // namespace kiln
