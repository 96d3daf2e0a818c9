// `kiln inspect FILE` on real fixtures (safetensors, GGUF), IDX files made
// here, files named against their content, and malformed files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cctype>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "kiln/io/gguf.h"
#include "kiln/io/safetensors.h"
#include "kiln/text/unicode.h"
#include "kiln_process.h"

namespace {

using namespace kiln_it;

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

/// The output has a line with `name`, then `type`, then `shape` as whole words.
void expect_tensor_line(const std::string& out, const std::string& name, const std::string& type,
                        const std::string& shape) {
  std::size_t pos = 0;
  while ((pos = out.find("  " + name + " ", pos)) != std::string::npos) {
    const std::size_t eol = out.find('\n', pos);
    const std::string line = out.substr(pos, eol - pos);
    const std::size_t t = line.find(" " + type + " ", name.size() + 2);
    if (t != std::string::npos && line.find(" " + shape + " ", t) != std::string::npos) return;
    pos = eol;
  }
  ADD_FAILURE() << "no line for tensor " << name << " " << type << " " << shape << " in:\n" << out;
}

void expect_safetensors_listing(const std::string& file) {
  const kiln::io::SafetensorsFile f = kiln::io::SafetensorsFile::open(file);
  const Result r = run_kiln({"inspect", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: safetensors\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tensors: " + std::to_string(f.entries().size()) + " ("), std::string::npos) << r.out;
  for (const auto& e : f.entries()) {
    // kiln's lower-case dtype names: "F32" in the file prints as "f32".
    std::string dtype = e.dtype;
    for (char& c : dtype) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    expect_tensor_line(r.out, e.name, dtype, shape_text(e.shape));
  }
  for (const auto& [k, v] : f.metadata()) EXPECT_NE(r.out.find("  " + k + " = "), std::string::npos) << k;
}

TEST(Inspect, SafetensorsFixtures) {
  for (const char* name : {"tiny-bert/model.safetensors", "optim-expected.safetensors",
                           "conv-bn-pool-expected.safetensors"}) {
    SCOPED_TRACE(name);
    expect_safetensors_listing(fixture(name));
  }
}

TEST(Inspect, SafetensorsWithMetadata) {
  const TempDir tmp;
  const fs::path p = tmp.path() / "m.safetensors";
  kiln::io::save_safetensors(p, {{"w", kiln::Tensor::zeros({2, 3}, kiln::DType::f32)}},
                             {{"format", "pt"}, {"note", "hello \"world\""}});
  const Result r = run_kiln({"inspect", p.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("metadata: 2 entries\n  format = \"pt\"\n  note = \"hello \\\"world\\\"\"\n"),
            std::string::npos)
      << r.out;
  expect_tensor_line(r.out, "w", "f32", "[2, 3]");
}

TEST(Inspect, GgufFixtures) {
  for (const char* name : {"gguf/gguf-py-all-types.gguf", "gguf/kiln-all-types.gguf"}) {
    SCOPED_TRACE(name);
    const kiln::io::GgufFile f = kiln::io::GgufFile::open(fixture(name));
    const Result r = run_kiln({"inspect", fixture(name)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("format: GGUF version " + std::to_string(f.version()) + "\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("alignment: " + std::to_string(f.alignment()) + "\n"), std::string::npos) << r.out;
    for (const auto& [key, value] : f.metadata()) {
      EXPECT_NE(r.out.find("  " + key + ": "), std::string::npos) << key << "\n" << r.out;
    }
    for (const auto& t : f.tensors()) expect_tensor_line(r.out, t.name, kiln::io::ggml_type_name(t.type), shape_text(t.shape));
  }
}

/// IDX bytes: magic (0, 0, type, ndims), big-endian dims, then data.
std::string idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims, std::size_t data_bytes) {
  std::string b = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (const std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<char>((d >> shift) & 0xFF));
  }
  for (std::size_t i = 0; i < data_bytes; ++i) b.push_back(static_cast<char>(i));
  return b;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr) << p;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

TEST(Inspect, IdxPlainAndGzipped) {
  const TempDir tmp;
  write_raw(tmp.path() / "images-idx3-ubyte", idx_bytes(0x08, {3, 2, 2}, 12));
  write_gz(tmp.path() / "labels.gz", idx_bytes(0x0C, {5}, 20));
  write_gz(tmp.path() / "no-extension", idx_bytes(0x0D, {2, 2}, 16));  // found by content, not name

  Result r = run_kiln({"inspect", (tmp.path() / "images-idx3-ubyte").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: IDX\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("magic: 0x00000803 (type u8, 3 dimensions)"), std::string::npos) << r.out;
  expect_tensor_line(r.out, "data", "u8", "[3, 2, 2]");

  r = run_kiln({"inspect", (tmp.path() / "labels.gz").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: IDX, gzip-compressed\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(28 bytes decompressed)"), std::string::npos) << r.out;
  expect_tensor_line(r.out, "data", "i32 (big-endian)", "[5]");

  r = run_kiln({"inspect", (tmp.path() / "no-extension").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_tensor_line(r.out, "data", "f32 (big-endian)", "[2, 2]");
}

TEST(Inspect, FormatComesFromContentNotName) {
  const TempDir tmp;
  const fs::path st = tmp.path() / "weights.gguf", gg = tmp.path() / "model.safetensors";
  fs::copy_file(fixture("optim-expected.safetensors"), st);
  fs::copy_file(fixture("gguf/kiln-all-types.gguf"), gg);
  Result r = run_kiln({"inspect", st.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: safetensors\n"), std::string::npos) << r.out;
  r = run_kiln({"inspect", gg.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("format: GGUF"), std::string::npos) << r.out;
}

/// A clean error that starts "error: <file>: " and says `what`.
void expect_file_error(const fs::path& file, const std::string& what) {
  const Result r = run_kiln({"inspect", file.string()});
  expect_clean_error(r, what);
  EXPECT_EQ(r.err.rfind("error: " + file.string() + ": ", 0), 0U) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(Inspect, MalformedFilesGiveClearErrors) {
  const TempDir tmp;
  const fs::path d = tmp.path();
  const std::string st = slurp(fixture("optim-expected.safetensors"));
  const std::string gg = slurp(fixture("gguf/kiln-all-types.gguf"));

  write_raw(d / "empty.safetensors", "");
  expect_file_error(d / "empty.safetensors", "empty file");

  write_raw(d / "short.safetensors", st.substr(0, st.size() - 10));
  expect_file_error(d / "short.safetensors", "safetensors: ");

  write_raw(d / "cut-header.safetensors", st.substr(0, 40));
  expect_file_error(d / "cut-header.safetensors", "runs past the end");

  write_raw(d / "short.gguf", gg.substr(0, gg.size() / 2));
  expect_file_error(d / "short.gguf", "GGUF: ");

  write_raw(d / "header-only.gguf", gg.substr(0, 30));
  expect_file_error(d / "header-only.gguf", "GGUF: ");

  write_raw(d / "short-idx", idx_bytes(0x08, {3, 2, 2}, 10));
  expect_file_error(d / "short-idx", "truncated");

  write_raw(d / "long-idx", idx_bytes(0x08, {3}, 5));
  expect_file_error(d / "long-idx", "trailing bytes");

  write_raw(d / "bad-magic.bin", "PK\x03\x04 this is not a tensor file");
  expect_file_error(d / "bad-magic.bin", "not a safetensors, GGUF or IDX file");

  write_raw(d / "idx-bad-type", std::string("\0\0\x07\x01\0\0\0\x01x", 9));
  expect_file_error(d / "idx-bad-type", "not a safetensors, GGUF or IDX file");

  write_raw(d / "plain.gz", "just some text, not gzip\n");
  expect_file_error(d / "plain.gz", "not gzip-compressed");

  write_raw(d / "idx-named.gz", idx_bytes(0x08, {2}, 2));  // IDX content, but a .gz name that lies
  expect_file_error(d / "idx-named.gz", "not gzip-compressed");

  std::string gz_bytes;
  {
    write_gz(d / "tmp.gz", idx_bytes(0x08, {100}, 100));
    gz_bytes = slurp(d / "tmp.gz");
  }
  write_raw(d / "cut.gz", gz_bytes.substr(0, gz_bytes.size() - 12));
  expect_file_error(d / "cut.gz", "gzip");

  std::string corrupt = gz_bytes;
  for (std::size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  write_raw(d / "corrupt.gz", corrupt);
  expect_file_error(d / "corrupt.gz", "gzip");

  write_gz(d / "text.gz", "hello, gzipped text\n");
  expect_file_error(d / "text.gz", "not an IDX file");

  expect_file_error(d / "does-not-exist", "no such file");
  fs::create_directory(d / "a-directory");
  expect_file_error(d / "a-directory", "is a directory");
  expect_clean_error(run_kiln({"inspect"}), "file");
}

// ---- names that would drive the terminal: printed escaped, never raw ------------------

/// Every byte of `printed` (stdout and stderr): well-formed UTF-8 with no control
/// character but newline, no DEL or C1 control, no bidi control or line separator.
void expect_terminal_safe(const std::string& printed) {
  for (std::size_t i = 0; i < printed.size();) {
    const kiln::text::Utf8Char c = kiln::text::decode_utf8(printed, i);
    ASSERT_TRUE(c.valid) << "ill-formed UTF-8 at byte " << i << ":\n" << printed;
    const char32_t cp = c.cp;
    const bool control = (cp < 0x20 && cp != '\n') || (cp >= 0x7F && cp <= 0x9F);
    const bool layout = cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
                        (cp >= 0x2066 && cp <= 0x2069);
    ASSERT_FALSE(control || layout) << "raw U+" << std::hex << static_cast<unsigned>(cp) << std::dec << " at byte "
                                    << i << ":\n" << ::testing::PrintToString(printed);
    i += c.len;
  }
}

// An OSC sequence that sets the terminal's title (ESC ... BEL), a CSI that clears
// the screen, a one-character C1 CSI (U+009B), a right-to-left override
// (U+202E), a right-to-left isolate (U+2066) and a carriage return.
const std::string kHostile = "w\x1b]0;pwned\x07\x1b[2J\xc2\x9b" "31m\xe2\x80\xae" "txt.exe\xe2\x81\xa6\r";
const std::string kShown = "w\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}txt.exe\\u{2066}\\r";

TEST(Inspect, SafetensorsNamesKeysAndValuesAreEscaped) {
  const TempDir tmp;
  const fs::path p = tmp.path() / "hostile.safetensors";
  kiln::io::save_safetensors(p, {{kHostile, kiln::Tensor::zeros({2, 3}, kiln::DType::f32)}}, {{kHostile, kHostile}});
  const Result r = run_kiln({"inspect", p.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_terminal_safe(r.out + r.err);
  EXPECT_NE(r.out.find("  " + kShown + " = \"" + kShown + "\"\n"), std::string::npos) << r.out;
  expect_tensor_line(r.out, kShown, "f32", "[2, 3]");
}

TEST(Inspect, GgufNamesKeysValuesAndTokensAreEscaped) {
  const TempDir tmp;
  const fs::path p = tmp.path() / "hostile.gguf";
  const std::vector<float> w = {1, 2, 3, 4};
  // Tokens need not be UTF-8: a lone 0xff byte and a cut character are shown byte by byte.
  kiln::io::write_gguf(p,
                       {{kHostile, kHostile},
                        {"tokenizer.ggml.tokens", std::vector<std::string>{"\xff", kHostile, "\xe4\xb8"}}},
                       {{kHostile, kiln::io::GgmlType::f32, {2, 2}, {reinterpret_cast<const std::byte*>(w.data()), 16}}});
  const Result r = run_kiln({"inspect", p.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_terminal_safe(r.out + r.err);
  EXPECT_NE(r.out.find("  " + kShown + ": string = \"" + kShown + "\"\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  tokenizer.ggml.tokens: array[string] = [\"\\xff\", \"" + kShown + "\", \"\\xe4\\xb8\"] (3 items)\n"),
            std::string::npos)
      << r.out;
  expect_tensor_line(r.out, kShown, "f32", "[2, 2]");
}

TEST(Inspect, ErrorsQuotingNamesFromTheFileAreEscaped) {
  const TempDir tmp;
  const fs::path d = tmp.path();
  // safetensors: a hostile tensor name with an unknown dtype, and a name that is not UTF-8.
  const auto safetensors = [](const std::string& header) {
    std::string b;
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
    return b + header;
  };
  const std::string json_name = nlohmann::json(kHostile).dump();
  write_raw(d / "dtype.safetensors", safetensors("{" + json_name + R"(:{"dtype":"F33","shape":[0],"data_offsets":[0,0]}})"));
  Result r = run_kiln({"inspect", (d / "dtype.safetensors").string()});
  expect_clean_error(r, "tensor '" + kShown + "': unknown dtype");
  expect_terminal_safe(r.out + r.err);

  write_raw(d / "utf8.safetensors", safetensors("{\"w\xff\x1b[2J\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"));
  r = run_kiln({"inspect", (d / "utf8.safetensors").string()});
  expect_clean_error(r, "not valid UTF-8");
  EXPECT_NE(r.err.find("w\\xff\\x1b[2J"), std::string::npos) << r.err;
  expect_terminal_safe(r.out + r.err);

  // GGUF: two tensors given the same hostile name, and a name that is not UTF-8,
  // made by rewriting the names of a valid file in place (same lengths).
  const std::vector<float> w = {1, 2, 3, 4};
  const std::span<const std::byte> data(reinterpret_cast<const std::byte*>(w.data()), 16);
  const std::string other = "v" + kHostile.substr(1);
  kiln::io::write_gguf(d / "ok.gguf", {},
                       {{kHostile, kiln::io::GgmlType::f32, {4}, data}, {other, kiln::io::GgmlType::f32, {4}, data}});
  const std::string ok = slurp(d / "ok.gguf");
  std::string twice = ok;
  twice.replace(twice.find(other), other.size(), kHostile);
  write_raw(d / "twice.gguf", twice);
  r = run_kiln({"inspect", (d / "twice.gguf").string()});
  expect_clean_error(r, "tensor name '" + kShown + "' appears twice");
  expect_terminal_safe(r.out + r.err);

  std::string bad = ok;
  bad[bad.find(other)] = '\xff';
  write_raw(d / "utf8.gguf", bad);
  r = run_kiln({"inspect", (d / "utf8.gguf").string()});
  expect_clean_error(r, "the name of tensor #1 '\\xff" + kShown.substr(1) + "' is not valid UTF-8");
  expect_terminal_safe(r.out + r.err);
}

TEST(Inspect, HelpListsOptions) {
  const Result r = run_kiln({"inspect", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("  --array-items INT:NONNEGATIVE GGUF metadata arrays: show this many items [default: 8]\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[default: 120]\n"), std::string::npos) << r.out;
}

}  // namespace
