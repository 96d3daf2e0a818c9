#pragma once
// The IDX array format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
// bytes 0,0, a type code, a dimension count, big-endian u32 dimensions, then the
// row-major data. Files may be gzip-compressed.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::io {

/// One IDX array as stored.
struct IdxArray {
  std::uint8_t type_code = 0;  ///< 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
  Shape dims;
  /// The data bytes exactly as in the file (multi-byte types stay big-endian).
  std::vector<std::uint8_t> data;
};

/// Reads an IDX file, gzipped (detected by the magic bytes 1f 8b) or not. The data
/// must hold exactly product(dims) elements. Every error is a kiln::Error naming
/// the file and the problem (missing file, bad magic, unknown type code, truncated
/// or trailing data, a `.gz` name that is not gzip, a corrupt gzip stream).
IdxArray read_idx(const std::filesystem::path& path);

struct LabeledImages {
  Tensor images;  ///< u8 [N, rows, cols]
  Tensor labels;  ///< i64 [N]
};

/// Loads an image file (magic 0x00000803: unsigned bytes, 3 dims) and a label file
/// (0x00000801: unsigned bytes, 1 dim), checking that the counts agree and every
/// label lies in [0, num_classes).
LabeledImages load_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                               int num_classes = 10);

inline const std::filesystem::path kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's train (60,000) or test (10,000) split from
/// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz in `dir`.
LabeledImages load_fashion_mnist(const std::filesystem::path& dir, bool train);
inline LabeledImages load_fashion_mnist(bool train) { return load_fashion_mnist(kFashionMnistDir, train); }

}  // namespace kiln::io
