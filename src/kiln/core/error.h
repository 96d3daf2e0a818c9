#pragma once
// The one exception type kiln throws for user-facing errors.
#include <stdexcept>
#include <string>

namespace kiln {

/// Thrown for every error a user can act on: bad shapes, bad files, bad options.
/// The message names the operation and the offending values.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

#define KILN_CHECK(cond, msg)                        \
  do {                                               \
    if (!(cond)) throw ::kiln::Error(msg);           \
  } while (false)

}  // namespace kiln
