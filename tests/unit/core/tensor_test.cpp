#include <gtest/gtest.h>

#include <cstdint>

#include "gradcheck.h"
#include "kiln/core/parallel.h"

namespace kiln {
namespace {

using test::gradcheck_error;
using test::Layout;
using test::make_input;

TEST(Tensor, ViewsShareStorageWithoutCopying) {
  const Tensor x = Tensor::arange(24, DType::f32).reshape({2, 3, 4});
  const Tensor t = x.transpose(0, 2);
  EXPECT_EQ(t.storage(), x.storage());
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(t.strides(), (Shape{1, 4, 12}));
  EXPECT_FALSE(t.is_contiguous());
  const Tensor s = x.slice(2, 1, 4, 2);
  EXPECT_EQ(s.storage(), x.storage());
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.to_vector<float>(), (std::vector<float>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}));
  const Tensor e = Tensor::arange(3, DType::f32).reshape({3, 1}).expand({3, 4});
  EXPECT_EQ(e.strides(), (Shape{1, 0}));
  const Tensor r = x.reshape({6, 4});  // contiguous: a view
  EXPECT_EQ(r.storage(), x.storage());
  const Tensor rt = t.reshape({24});  // not expressible as a view: a copy
  EXPECT_NE(rt.storage(), x.storage());
  EXPECT_EQ(rt.to_vector<float>()[1], 12.0F);
  EXPECT_THROW((void)t.view({24}), Error);
  const Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector<float>(), t.to_vector<float>());
}

TEST(Tensor, DtypeRoundTrips) {
  const Tensor x = Tensor::from_vector<float>({1.0F, -2.5F, 3.140625F, 65504.0F, 1e-3F}, {5});
  EXPECT_EQ(x.to(DType::f16).to(DType::f32).to_vector<float>()[3], 65504.0F);
  EXPECT_EQ(x.to(DType::bf16).to(DType::f32).to_vector<float>()[2], 3.140625F);
  EXPECT_NEAR(x.to(DType::f16).to(DType::f32).to_vector<float>()[4], 1e-3F, 1e-6F);
  EXPECT_EQ(x.to(DType::i64).to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, -2, 3, 65504, 0}));
  EXPECT_EQ(x.to(DType::boolean).to_vector<std::uint8_t>()[4], 1);
  for (const DType t : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8, DType::boolean}) {
    EXPECT_EQ(Tensor::zeros({3}, t).dtype(), t) << dtype_name(t);
  }
}

TEST(Tensor, StorageIsAligned) {
  for (const std::int64_t n : {1, 7, 100, 5000, 1 << 20}) {
    const Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0U) << n;
  }
}

TEST(Tensor, RandomDrawsDoNotDependOnThreadCount) {
  const int before = num_threads();
  Generator a(42), b(42);
  set_num_threads(1);
  const auto one = randn({100003}, a).to_vector<float>();
  const auto one_u = rand({7}, a).to_vector<float>();
  set_num_threads(2);
  const auto two = randn({100003}, b).to_vector<float>();
  const auto two_u = rand({7}, b).to_vector<float>();
  set_num_threads(before);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one_u, two_u);
  double mean = 0, sq = 0;
  for (const float v : one) {
    mean += v;
    sq += static_cast<double>(v) * v;
  }
  mean /= static_cast<double>(one.size());
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(sq / static_cast<double>(one.size()), 1.0, 0.02);
  Generator c(43);
  EXPECT_NE(randn({8}, c).to_vector<float>(), std::vector<float>(one.begin(), one.begin() + 8));
}

TEST(Tensor, BadShapesAndDevicesAreClearErrors) {
  try {
    (void)Tensor::zeros({2, 3}).reshape({4, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reshape"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos);
  }
  EXPECT_THROW((void)Tensor::zeros({2}, DType::f32, Device{DeviceKind::cuda, 0}), Error);
  EXPECT_THROW((void)Tensor::zeros({2}).transpose(0, 3), Error);
  EXPECT_THROW((void)Tensor::zeros({2, 3}).expand({4, 3}), Error);
}

TEST(ViewGrad, EveryViewOpMatchesFiniteDifferences) {
  Generator gen(21);
  for (const Layout layout : {Layout::contiguous, Layout::transposed, Layout::sliced}) {
    const Tensor x = make_input({3, 4}, gen, layout);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].transpose(0, 1); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].permute({1, 0}).reshape({2, 6}); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].slice(1, 1, 4, 2); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].slice(0, -2, 3); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].unsqueeze(1).expand({3, 5, 4}); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].reshape({12}).unsqueeze(0).squeeze(0); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return v[0].contiguous().flatten(); }, {x}), 1e-6);
    EXPECT_LT(gradcheck_error([](const auto& v) { return split(v[0], {1, 3}, 1)[1]; }, {x}), 1e-6);
    const Tensor mask = gt(Tensor::from_vector<double>({0.5, -1, 2, -3}, {4}), Tensor::scalar(0.0, DType::f64));
    EXPECT_LT(gradcheck_error([&](const auto& v) { return masked_fill(v[0], mask, 7.0); }, {x}), 1e-6);
    const Tensor y = make_input({3, 1}, gen);
    EXPECT_LT(gradcheck_error([&](const auto& v) { return where(mask, v[0], v[1]); }, {x, y}), 1e-6);
  }
}

}  // namespace
}  // namespace kiln
