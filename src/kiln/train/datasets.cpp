#include "kiln/train/datasets.h"

#include <algorithm>
#include <memory>
#include <numeric>

#include "kiln/core/rng.h"
#include "kiln/io/fortunes.h"
#include "kiln/io/idx.h"
#include "kiln/ops/ops.h"
#include "kiln/text/keras_tokenizer.h"

namespace kiln::train {

ImageLayout image_layout_from_name(const std::string& name) {
  if (name == "flat") return ImageLayout::flat;
  if (name == "image") return ImageLayout::image;
  if (name == "rows") return ImageLayout::rows;
  throw Error("unknown image layout '" + name + "' (available: flat, image, rows)");
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

namespace {

Tensor shape_images(const Tensor& u8, ImageLayout layout, std::int64_t n) {
  // Converted in slices: a whole-set u8 -> f32 -> /255 chain held two 188 MB f32
  // copies at once, and the allocator kept the dead one cached for the whole run
  // (it set the run's peak memory). Dividing by 255 (not multiplying by 1/255)
  // keeps the values identical to PyTorch's `x / 255.`.
  Tensor x = Tensor::empty({n, u8.size(1), u8.size(2)}, DType::f32);
  constexpr std::int64_t kSlice = 1024;
  for (std::int64_t b = 0; b < n; b += kSlice) {
    const std::int64_t e = std::min(n, b + kSlice);
    Tensor dst = x.slice(0, b, e);
    copy_(dst, div(u8.slice(0, b, e).to(DType::f32), 255.0));
  }
  switch (layout) {
    case ImageLayout::flat: return x.reshape({n, x.size(1) * x.size(2)});
    case ImageLayout::image: return x.reshape({n, 1, x.size(1), x.size(2)});
    case ImageLayout::rows: return x;
  }
  return x;
}

}  // namespace

LabeledData load_fashion_mnist_data(const std::filesystem::path& dir, ImageLayout layout, std::int64_t limit) {
  if (limit < 0) throw Error("fashion-mnist: limit must be >= 0, got " + std::to_string(limit));
  const io::LabeledImages train = io::load_fashion_mnist(dir, true);
  const io::LabeledImages test = io::load_fashion_mnist(dir, false);
  const std::int64_t n_train = limit > 0 ? std::min(limit, train.images.size(0)) : train.images.size(0);
  const std::int64_t n_test = limit > 0 ? std::min((limit + 5) / 6, test.images.size(0)) : test.images.size(0);
  LabeledData d;
  d.train_x = shape_images(train.images, layout, n_train);
  d.train_y = train.labels.slice(0, 0, n_train).to(DType::i64).contiguous();
  d.test_x = shape_images(test.images, layout, n_test);
  d.test_y = test.labels.slice(0, 0, n_test).to(DType::i64).contiguous();
  d.class_names = fashion_mnist_class_names();
  d.prepare_images = [layout](const Tensor& images) {
    if (images.dtype() != DType::u8 || images.dim() != 3 || images.size(1) != 28 || images.size(2) != 28) {
      throw Error("fashion-mnist model input: expected u8 images [N, 28, 28], got " + images.str());
    }
    return shape_images(images, layout, images.size(0));
  };
  return d;
}

LabeledData load_fortune_classification(const FortuneTextOptions& o) {
  if (o.categories.size() < 2) throw Error("fortunes: choose at least 2 categories");
  if (o.num_words < 2 || o.maxlen < 1) throw Error("fortunes: num_words must be >= 2 and maxlen >= 1");
  std::vector<std::string> train_texts, test_texts;
  std::vector<std::int64_t> train_labels, test_labels;
  for (std::size_t c = 0; c < o.categories.size(); ++c) {
    const std::filesystem::path file = o.dir / o.categories[c];
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      throw Error("fortunes: category file '" + file.string() + "' does not exist" +
                  (std::filesystem::exists(o.dir, ec) ? "" : " (install the package: apt-get install fortunes)"));
    }
    const std::vector<io::Fortune> entries = io::read_fortunes(file);
    const std::size_t n = o.limit_per_category > 0
                              ? std::min(entries.size(), static_cast<std::size_t>(o.limit_per_category))
                              : entries.size();
    for (std::size_t i = 0; i < n; ++i) {
      const bool test = i % 5 == 4;
      (test ? test_texts : train_texts).push_back(entries[i].text);
      (test ? test_labels : train_labels).push_back(static_cast<std::int64_t>(c));
    }
  }
  // A fixed shuffle of the training rows (Fisher–Yates on a seeded Philox stream).
  std::vector<std::size_t> order(train_texts.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  Generator gen(o.shuffle_seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.next_below(i)]);
  std::vector<std::string> texts(order.size());
  std::vector<std::int64_t> labels(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    texts[i] = std::move(train_texts[order[i]]);
    labels[i] = train_labels[order[i]];
  }

  LabeledData d;
  if (o.encode) {
    const auto encode = [o](const std::vector<std::string>& t) {
      const auto n = static_cast<std::int64_t>(t.size());
      std::vector<std::int64_t> values(static_cast<std::size_t>(n * o.maxlen), o.pad_id);
      for (std::int64_t i = 0; i < n; ++i) {
        const std::vector<std::int64_t> ids = o.encode(t[static_cast<std::size_t>(i)], o.maxlen);
        if (static_cast<std::int64_t>(ids.size()) > o.maxlen) {
          throw Error("fortunes: the tokenizer gave " + std::to_string(ids.size()) + " ids for a text, above maxlen " +
                      std::to_string(o.maxlen));
        }
        std::copy(ids.begin(), ids.end(), values.begin() + i * o.maxlen);
      }
      return Tensor::from_vector<std::int64_t>(values, {n, o.maxlen});
    };
    d.prepare_texts = encode;
  } else {
    text::KerasTokenizerConfig tok_config;
    tok_config.num_words = o.num_words;
    auto tok = std::make_shared<text::KerasTokenizer>(tok_config);
    tok->fit_on_texts(texts);
    const auto encode = [tok, o](const std::vector<std::string>& t) {
      const auto n = static_cast<std::int64_t>(t.size());
      if (o.bag_of_words) {
        const auto m = tok->texts_to_matrix(t, text::matrix_mode_from_name(o.matrix_mode));
        std::vector<float> v(m.values.begin(), m.values.end());
        return Tensor::from_vector<float>(v, {n, m.cols});
      }
      const auto padded = text::pad_sequences(tok->texts_to_sequences(t), o.maxlen);
      return Tensor::from_vector<std::int64_t>(padded.values, {n, o.maxlen});
    };
    d.prepare_texts = encode;
  }
  d.train_x = d.prepare_texts(texts);
  d.train_y = Tensor::from_vector<std::int64_t>(labels, {static_cast<std::int64_t>(labels.size())});
  d.test_x = d.prepare_texts(test_texts);
  d.test_y = Tensor::from_vector<std::int64_t>(test_labels, {static_cast<std::int64_t>(test_labels.size())});
  d.class_names = o.categories;
  return d;
}

}  // namespace kiln::train
