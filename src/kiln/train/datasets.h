#pragma once
// The example data sets, loaded into tensors the Trainer takes.
//
// Fashion-MNIST (Debian's dataset-fashion-mnist) in the layout a model wants;
// fortune classification (Debian's fortunes): entries of chosen category files
// as Keras-tokenised, padded word-id sequences (or bag-of-words rows) with the
// category index as label. The fortune split is fixed: within each category,
// entry i goes to the test set when i % 5 == 4, else to training; training
// rows are then shuffled with a fixed seed so that Keras' validation_split
// (the last rows) holds every category.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::train {

/// How Fashion-MNIST images are shaped for a model.
enum class ImageLayout : std::uint8_t {
  flat,      ///< [N, 784]
  image,     ///< [N, 1, 28, 28] (convolutions)
  rows,      ///< [N, 28, 28]: 28 steps of 28 pixels (a row-LSTM)
};
ImageLayout image_layout_from_name(const std::string& name);

struct LabeledData {
  Tensor train_x, train_y, test_x, test_y;  ///< y: i64 class indices
  std::vector<std::string> class_names;
  /// Turns new raw inputs into model inputs exactly as the data above were made
  /// (for `kiln predict`): u8 images [N, 28, 28] for Fashion-MNIST...
  std::function<Tensor(const Tensor& images)> prepare_images;
  /// ...texts for fortunes (the tokenizer fitted on the training texts).
  std::function<Tensor(const std::vector<std::string>& texts)> prepare_texts;
};

/// Pixels scaled to [0, 1]; `limit` > 0 keeps the first `limit` training and
/// ⌈limit/6⌉ test images (fast tests on a slice).
LabeledData load_fashion_mnist_data(const std::filesystem::path& dir, ImageLayout layout, std::int64_t limit = 0);
const std::vector<std::string>& fashion_mnist_class_names();

struct FortuneTextOptions {
  std::filesystem::path dir = "/usr/share/games/fortunes";
  std::vector<std::string> categories;  ///< file names; at least 2
  std::int64_t num_words = 10000;       ///< Keras Tokenizer(num_words=...)
  std::int64_t maxlen = 100;            ///< pad_sequences(maxlen=...), "pre" padding and truncation
  bool bag_of_words = false;            ///< rows of texts_to_matrix(mode) instead of sequences
  std::string matrix_mode = "binary";   ///< binary, count, freq, tfidf
  std::uint64_t shuffle_seed = 1234;    ///< fixed order of the training rows
  std::int64_t limit_per_category = 0;  ///< > 0: only the first entries of each file (fast tests)
  /// A pretrained model's tokenizer instead of a fitted Keras one: text →
  /// ids of at most maxlen tokens (its own special tokens included); rows are
  /// right-padded with pad_id. num_words, bag_of_words and matrix_mode are unused.
  std::function<std::vector<std::int64_t>(const std::string& text, std::int64_t max_len)> encode;
  std::int64_t pad_id = 0;
};

/// Sequences: x i64 [N, maxlen]; bag of words: x f32 [N, num_words]. The
/// tokenizer is fitted on the training texts only (or given: options.encode).
LabeledData load_fortune_classification(const FortuneTextOptions& options);

}  // namespace kiln::train
