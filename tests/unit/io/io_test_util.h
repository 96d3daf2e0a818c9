#pragma once
// Helpers for the kiln/io tests: a scratch directory and whole-file byte I/O.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "kiln/core/error.h"
#include "kiln/text/unicode.h"

namespace kiln::test {

/// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln-io-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

/// Expects `fn` to throw kiln::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a kiln::Error";
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
  }
}

/// Expects `text` (a message about a file) to hold nothing a terminal acts on:
/// well-formed UTF-8 without C0 controls (newline aside), DEL, C1 controls, bidi
/// controls or line separators.
inline void expect_terminal_safe(const std::string& text) {
  for (std::size_t i = 0; i < text.size();) {
    const kiln::text::Utf8Char c = kiln::text::decode_utf8(text, i);
    ASSERT_TRUE(c.valid) << "ill-formed UTF-8 at byte " << i << " of: " << text;
    const char32_t cp = c.cp;
    const bool control = (cp < 0x20 && cp != '\n') || (cp >= 0x7F && cp <= 0x9F);
    const bool layout = cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
                        (cp >= 0x2066 && cp <= 0x2069);
    EXPECT_FALSE(control || layout) << "raw U+" << std::hex << static_cast<unsigned>(cp) << " at byte " << std::dec
                                    << i << " of: " << ::testing::PrintToString(text);
    i += c.len;
  }
}

/// The message of the kiln::Error `fn` throws ("" and a failure if it throws none).
template <class F>
std::string error_message(F&& fn) {
  try {
    fn();
  } catch (const kiln::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kiln::Error";
  return "";
}

}  // namespace kiln::test
