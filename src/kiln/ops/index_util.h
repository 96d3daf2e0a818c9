#pragma once
// Helpers shared by the ops that take integer indices (index.cpp, nn.cpp).
#include <cstdint>
#include <optional>

#include "kiln/core/tensor.h"

namespace kiln::detail {

/// The index as i64 (i32 is widened); throws naming `op` for any other dtype.
Tensor index_as_i64(const Tensor& index, const char* op);

/// A value of the i64 tensor `index` outside [0, size), if there is one (the
/// most negative, else the largest). Uses device-independent reductions, so
/// callers can reject bad indices before any kernel touches memory.
std::optional<std::int64_t> find_out_of_range(const Tensor& index, std::int64_t size);

}  // namespace kiln::detail
