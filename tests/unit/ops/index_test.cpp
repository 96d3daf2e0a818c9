#include <gtest/gtest.h>

#include <string>

#include "gradcheck.h"
#include "kiln/core/parallel.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

constexpr double kTol = 1e-6;
using test::kLayouts;
using test::pick;
using test::random_shape;

Tensor random_index(Generator& gen, std::int64_t n, std::int64_t size, const Shape& shape = {}) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = pick(gen, 0, size - 1);
  return Tensor::from_vector(v, shape.empty() ? Shape{n} : shape);
}

using test::error_of;
using test::expect_contains;

// ---- concat / stack -----------------------------------------------------------------
TEST(Concat, GradientsOverRandomShapesDimsAndLayouts) {
  Generator gen(21);
  for (int trial = 0; trial < 12; ++trial) {
    const std::int64_t ndim = pick(gen, 1, 3);
    const Shape base = random_shape(gen, ndim);
    const std::int64_t dim = pick(gen, -ndim, ndim - 1);
    const std::int64_t d = dim < 0 ? dim + ndim : dim;
    std::vector<Tensor> xs;
    const std::int64_t count = pick(gen, 1, 3);
    for (std::int64_t i = 0; i < count; ++i) {
      Shape s = base;
      s[static_cast<std::size_t>(d)] = pick(gen, 1, 3);
      xs.push_back(make_input(s, gen, kLayouts[(trial + i) % 3]));
    }
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return concat(v, dim); }, xs), kTol)
        << shape_str(base) << " dim " << dim;
  }
}

TEST(Concat, ValuesAndStack) {
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from_vector<float>({5, 6}, {2, 1});
  EXPECT_EQ(concat({a, b}, 1).to_vector<float>(), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(concat({a, a.t()}, 0).to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 1, 3, 2, 4}));
  const Tensor s = stack({a, a.t()}, 1);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1, 2, 1, 3, 3, 4, 2, 4}));
  EXPECT_EQ(stack({a, a}, -1).shape(), (Shape{2, 2, 2}));
  const Tensor ints = concat({Tensor::arange(2), Tensor::arange(3)}, 0);
  EXPECT_EQ(ints.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0, 1, 2}));
}

TEST(Stack, GradientsOverDims) {
  Generator gen(22);
  for (std::int64_t dim = -3; dim <= 2; ++dim) {
    const Tensor a = make_input({2, 3}, gen, Layout::transposed);
    const Tensor b = make_input({2, 3}, gen, Layout::sliced);
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return stack(v, dim); }, {a, b}), kTol) << dim;
  }
}

TEST(Concat, ErrorsNameOpShapesAndDtypes) {
  const Tensor a = Tensor::zeros({2, 3});
  expect_contains(error_of([&] { (void)concat({a, Tensor::zeros({3, 3})}, 1); }), {"concat", "[3, 3]", "[2, 3]"});
  expect_contains(error_of([&] { (void)concat({a, Tensor::zeros({2, 3, 1})}, 0); }), {"concat", "[2, 3, 1]"});
  expect_contains(error_of([&] { (void)concat({a, Tensor::zeros({2, 3}, DType::f64)}, 0); }),
                  {"concat", "f32[2, 3]", "f64[2, 3]"});
  expect_contains(error_of([&] { (void)concat({}, 0); }), {"concat"});
  expect_contains(error_of([&] { (void)concat({a}, 2); }), {"concat", "dimension 2"});
  expect_contains(error_of([&] { (void)stack({a, Tensor::zeros({3, 2})}, 0); }), {"stack", "[3, 2]", "[2, 3]"});
}

// ---- split / chunk --------------------------------------------------------------------
TEST(Split, PiecesAreViewsWithGradients) {
  const Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {2, 5});
  const auto parts = split(x, {2, 0, 3}, 1);
  ASSERT_EQ(parts.size(), 3U);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(parts[1].shape(), (Shape{2, 0}));
  EXPECT_EQ(parts[2].to_vector<float>(), (std::vector<float>{2, 3, 4, 7, 8, 9}));
  EXPECT_EQ(parts[2].storage(), x.storage());  // a view, not a copy

  Generator gen(23);
  for (const Layout layout : kLayouts) {
    const Tensor in = make_input({3, 5}, gen, layout);
    EXPECT_LT(gradcheck_error(
                  [](const std::vector<Tensor>& v) {
                    const auto p = split(v[0], {1, 3, 1}, 1);
                    return concat({mul(p[0], 2.0), square(p[1]), p[2]}, 1);
                  },
                  {in}),
              kTol);
  }
}

TEST(Chunk, FollowsTorchChunkSizes) {
  const Tensor x = Tensor::zeros({5, 6});
  auto sizes = [](const std::vector<Tensor>& ts, std::int64_t d) {
    std::vector<std::int64_t> s;
    for (const Tensor& t : ts) s.push_back(t.shape()[static_cast<std::size_t>(d)]);
    return s;
  };
  EXPECT_EQ(sizes(chunk(x, 3, 0), 0), (std::vector<std::int64_t>{2, 2, 1}));
  EXPECT_EQ(sizes(chunk(x, 3, 1), 1), (std::vector<std::int64_t>{2, 2, 2}));
  EXPECT_EQ(sizes(chunk(x, 4, 1), 1), (std::vector<std::int64_t>{2, 2, 2}));  // torch.chunk gives 3 pieces here
  EXPECT_EQ(sizes(chunk(x, 1, -1), 1), (std::vector<std::int64_t>{6}));

  Generator gen(24);
  const Tensor in = make_input({4, 6}, gen, Layout::transposed);
  EXPECT_LT(gradcheck_error(
                [](const std::vector<Tensor>& v) {
                  const auto p = chunk(v[0], 3, -1);  // qkv-style split
                  return add(mul(p[0], p[1]), p[2]);
                },
                {in}),
            kTol);
}

TEST(Split, Errors) {
  const Tensor x = Tensor::zeros({2, 5});
  expect_contains(error_of([&] { (void)split(x, {2, 2}, 1); }), {"split", "sum to 4", "f32[2, 5]", "size 5"});
  expect_contains(error_of([&] { (void)split(x, {6, -1}, 1); }), {"split", "negative"});
  expect_contains(error_of([&] { (void)chunk(x, 0, 1); }), {"chunk", "positive"});
}

// ---- index_select ----------------------------------------------------------------------
TEST(IndexSelect, Values) {
  const Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2});
  const Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 2}, {3});
  EXPECT_EQ(index_select(x, 0, idx).to_vector<float>(), (std::vector<float>{4, 5, 0, 1, 4, 5}));
  const Tensor idx32 = Tensor::from_vector<std::int32_t>({1, 1, 0}, {3});
  const Tensor cols = index_select(x, 1, idx32);
  EXPECT_EQ(cols.shape(), (Shape{3, 3}));
  EXPECT_EQ(cols.to_vector<float>(), (std::vector<float>{1, 1, 0, 3, 3, 2, 5, 5, 4}));
  EXPECT_EQ(index_select(x.t(), 1, idx).to_vector<float>(), (std::vector<float>{4, 0, 4, 5, 1, 5}));
  EXPECT_EQ(index_select(x, 0, Tensor::zeros({0}, DType::i64)).shape(), (Shape{0, 2}));
}

TEST(IndexSelect, GradientsWithRepeatsOverDimsAndLayouts) {
  Generator gen(25);
  for (int trial = 0; trial < 12; ++trial) {
    const std::int64_t ndim = pick(gen, 1, 3);
    const Shape shape = random_shape(gen, ndim);
    const std::int64_t dim = pick(gen, 0, ndim - 1);
    const Tensor idx = random_index(gen, pick(gen, 1, 6), shape[static_cast<std::size_t>(dim)]);
    const Tensor x = make_input(shape, gen, kLayouts[trial % 3]);
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return index_select(v[0], dim, idx); }, {x}),
              kTol)
        << shape_str(shape) << " dim " << dim;
  }
}

TEST(IndexSelect, BackwardAddsOnlyIntoSelectedRows) {
  Tensor w = Tensor::ones({5, 3});
  w.set_requires_grad(true);
  const Tensor idx = Tensor::from_vector<std::int64_t>({3, 1, 3, 3}, {4});
  sum(index_select(w, 0, idx)).backward();
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{0, 0, 0, 1, 1, 1, 0, 0, 0, 3, 3, 3, 0, 0, 0}));
}

TEST(IndexSelect, Errors) {
  const Tensor x = Tensor::zeros({4, 3});
  expect_contains(error_of([&] { (void)index_select(x, 0, Tensor::from_vector<std::int64_t>({0, 4}, {2})); }),
                  {"index_select", "index 4", "size 4", "f32[4, 3]"});
  expect_contains(error_of([&] { (void)index_select(x, 1, Tensor::from_vector<std::int64_t>({-1}, {1})); }),
                  {"index_select", "index -1", "size 3"});
  expect_contains(error_of([&] { (void)index_select(x, 0, Tensor::zeros({2})); }), {"index_select", "i64", "f32[2]"});
  expect_contains(error_of([&] { (void)index_select(x, 0, Tensor::zeros({2, 1}, DType::i64)); }),
                  {"index_select", "1-d", "i64[2, 1]"});
  expect_contains(error_of([&] { (void)index_select(x, 2, Tensor::zeros({1}, DType::i64)); }), {"index_select"});
}

// ---- gather ------------------------------------------------------------------------------
TEST(Gather, Values) {
  const Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 1, 1}, {2, 2});
  EXPECT_EQ(gather(x, 1, idx).to_vector<float>(), (std::vector<float>{3, 1, 5, 5}));
  const Tensor idx0 = Tensor::from_vector<std::int64_t>({1, 0, 1}, {1, 3});
  EXPECT_EQ(gather(x, 0, idx0).to_vector<float>(), (std::vector<float>{4, 2, 6}));
  // An index smaller than the input outside `dim` reads the leading window.
  const Tensor small = Tensor::from_vector<std::int32_t>({1}, {1, 1});
  EXPECT_EQ(gather(x, 1, small).to_vector<float>(), (std::vector<float>{2}));
}

TEST(Gather, GradientsWithRepeatsOverDimsAndLayouts) {
  Generator gen(26);
  for (int trial = 0; trial < 12; ++trial) {
    const std::int64_t ndim = pick(gen, 1, 3);
    const Shape shape = random_shape(gen, ndim);
    const std::int64_t dim = pick(gen, 0, ndim - 1);
    Shape ishape = shape;
    for (std::size_t k = 0; k < ishape.size(); ++k) {
      ishape[k] = static_cast<std::int64_t>(k) == dim ? pick(gen, 1, 5) : pick(gen, 1, shape[k]);
    }
    const Tensor idx = random_index(gen, shape_numel(ishape), shape[static_cast<std::size_t>(dim)], ishape);
    const Tensor x = make_input(shape, gen, kLayouts[trial % 3]);
    EXPECT_LT(gradcheck_error([&](const std::vector<Tensor>& v) { return gather(v[0], dim, idx); }, {x}), kTol)
        << shape_str(shape) << " index " << shape_str(ishape) << " dim " << dim;
  }
}

TEST(Gather, Errors) {
  const Tensor x = Tensor::zeros({2, 3});
  expect_contains(error_of([&] { (void)gather(x, 1, Tensor::from_vector<std::int64_t>({0, 3}, {2, 1})); }),
                  {"gather", "index 3", "size 3"});
  expect_contains(error_of([&] { (void)gather(x, 1, Tensor::zeros({3, 1}, DType::i64)); }),
                  {"gather", "i64[3, 1]", "f32[2, 3]"});
  expect_contains(error_of([&] { (void)gather(x, 1, Tensor::zeros({2}, DType::i64)); }), {"gather", "i64[2]"});
  expect_contains(error_of([&] { (void)gather(x, 0, Tensor::zeros({1, 1}, DType::boolean)); }), {"gather", "bool"});
}

TEST(IndexOps, GradientsThroughBroadcastViews) {
  Generator gen(28);
  const Tensor row = make_input({1, 4}, gen);
  const Tensor idx = Tensor::from_vector<std::int64_t>({2, 0, 2, 1}, {4});
  const Tensor gidx = Tensor::from_vector<std::int64_t>({0, 2, 1, 1, 0, 0}, {3, 2});
  EXPECT_LT(gradcheck_error([&](const auto& v) { return index_select(expand(v[0], {3, 4}), 0, idx); }, {row}), kTol);
  EXPECT_LT(gradcheck_error([&](const auto& v) { return gather(expand(v[0], {3, 4}), 1, gidx); }, {row}), kTol);
  EXPECT_LT(gradcheck_error([&](const auto& v) { return concat({expand(v[0], {2, 4}), v[0]}, 0); }, {row}), kTol);
}

// The accumulating kernels give bit-identical results for any thread count.
TEST(IndexKernels, AccumulationIsIndependentOfThreadCount) {
  Generator gen(27);
  const Tensor idx = random_index(gen, 4096, 50);
  const Tensor src = randn({4096, 96}, gen);
  const Tensor gidx = random_index(gen, 64 * 300, 7, {64, 300});
  const Tensor gsrc = randn({64, 7}, gen);
  auto run = [&] {
    Tensor w = Tensor::zeros({50, 96});
    w.set_requires_grad(true);
    sum(mul(index_select(w, 0, idx), src)).backward();
    Tensor g = gsrc.detach();
    g.set_requires_grad(true);
    sum(mul(gather(g, 1, gidx), Tensor::full({64, 300}, 0.1))).backward();
    return std::make_pair(w.grad().to_vector<float>(), g.grad().to_vector<float>());
  };
  const int saved = num_threads();
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  set_num_threads(saved);
  EXPECT_EQ(one.first, two.first);
  EXPECT_EQ(one.second, two.second);
  // And the sums are right: compare one row against a direct accumulation.
  const auto iv = idx.to_vector<std::int64_t>();
  const auto sv = src.to_vector<float>();
  double expect = 0;
  for (std::size_t i = 0; i < iv.size(); ++i) {
    if (iv[i] == 7) expect += sv[i * 96 + 5];
  }
  EXPECT_NEAR(one.first[7 * 96 + 5], expect, 1e-4);
}

}  // namespace
}  // namespace kiln
