#pragma once
// Option checks with plain-language messages (CLI11's range validators print
// the full double range, which reads badly).
#include <CLI/CLI.hpp>

#include <string>

namespace kiln::cli {

/// Accepts numbers > 0 (or >= 0 with allow_zero).
inline CLI::Validator number_check(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "'" + text + "' is not a number";
        if (allow_zero ? !(value >= 0) : !(value > 0)) {
          return std::string("must be ") + (allow_zero ? "zero or more" : "greater than zero") + ", got " + text;
        }
        return {};
      },
      allow_zero ? "NONNEGATIVE" : "POSITIVE");
}

inline const CLI::Validator kPositive = number_check(false);
inline const CLI::Validator kNonNegative = number_check(true);

}  // namespace kiln::cli
