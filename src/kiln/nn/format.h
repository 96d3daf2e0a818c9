#pragma once
// Number formatting for layer descriptions (Module::name()), so that options
// print the way PyTorch prints them: 1e-05, 0.1, 0.001.
#include <charconv>
#include <string>

namespace kiln::nn {

/// The shortest text that reads back as `v` ("0.1", "1e-05", "2").
inline std::string number_text(double v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

}  // namespace kiln::nn
