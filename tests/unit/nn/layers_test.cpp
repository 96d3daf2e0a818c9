// The standard layers on the module API: forward against the ops (or hand
// values), parameter and buffer names as torch's state_dict has them, default
// and named initialisers, train/eval behaviour, masks, descriptions and the
// errors bad options give. The conv → bn → relu → maxpool fixture replays
// through the real modules at the end.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "kiln/io/safetensors.h"
#include "kiln/nn/nn.h"
#include "kiln/ops/pooling.h"

namespace kiln::nn {
namespace {

using test::error_of;
using test::expect_contains;

std::vector<std::string> names_of(const StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& [name, t] : sd) out.push_back(name);
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return 1e9;
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < av.size(); ++i) worst = std::max(worst, std::fabs(av[i] - bv[i]));
  return worst;
}

struct Moments {
  double lo, hi, mean, std;
};
Moments moments(const Tensor& t) {
  const auto v = t.to_vector<double>();
  Moments m{1e300, -1e300, 0, 0};
  for (const double x : v) {
    m.lo = std::min(m.lo, x);
    m.hi = std::max(m.hi, x);
    m.mean += x;
  }
  m.mean /= static_cast<double>(v.size());
  for (const double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(v.size()));
  return m;
}

// ---- Conv2d ---------------------------------------------------------------------

TEST(Conv2dLayer, ParametersForwardAndDescription) {
  Generator gen(1);
  Conv2d conv({.in_channels = 1, .out_channels = 32, .kernel_size = 3}, gen);
  EXPECT_EQ(conv.name(), "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))");
  EXPECT_EQ(conv.type_name(), "Conv2d");
  EXPECT_EQ(names_of(conv.state_dict()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(conv.weight().shape(), (Shape{32, 1, 3, 3}));
  EXPECT_EQ(conv.bias().shape(), (Shape{32}));
  const Tensor x = randn({2, 1, 8, 7}, gen);
  EXPECT_EQ(conv.forward(x).to_vector<float>(), conv2d(x, conv.weight(), conv.bias()).to_vector<float>());

  Conv2d full({.in_channels = 4, .out_channels = 8, .kernel_size = {3, 5}, .stride = {2, 1}, .padding = {1, 2},
               .dilation = 2, .groups = 2, .bias = false, .init = Init::he_normal},
              gen);
  EXPECT_EQ(full.name(),
            "Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(2, 2), groups=2, "
            "bias=false, init=he_normal)");
  EXPECT_EQ(full.weight().shape(), (Shape{8, 2, 3, 5}));
  EXPECT_FALSE(full.bias().defined());
  EXPECT_EQ(names_of(full.state_dict()), (std::vector<std::string>{"weight"}));
  const Tensor x4 = randn({2, 4, 9, 9}, gen);
  const Tensor want = conv2d(
      x4, full.weight(), Tensor(),
      {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2, .dil_h = 2, .dil_w = 2, .groups = 2});
  EXPECT_EQ(full(x4).to_vector<float>(), want.to_vector<float>());
}

TEST(Conv2dLayer, TorchDefaultAndNamedInitialisers) {
  Generator gen(2);
  // torch: weight and bias U(±1/√fan_in), fan_in = 16·3·3.
  Conv2d conv({.in_channels = 16, .out_channels = 64, .kernel_size = 3}, gen);
  const double bound = 1.0 / std::sqrt(16.0 * 9.0);
  for (const Tensor& p : {conv.weight(), conv.bias()}) {
    const Moments m = moments(p);
    EXPECT_GE(m.lo, -bound);
    EXPECT_LE(m.hi, bound);
    EXPECT_GT(m.hi, 0.8 * bound);
  }
  EXPECT_NEAR(moments(conv.weight()).std, bound / std::sqrt(3.0), 0.05 * bound);
  // he_normal: N(0, 2/fan_in); Keras-style choices zero the bias.
  Conv2d he({.in_channels = 16, .out_channels = 64, .kernel_size = 3, .init = Init::he_normal}, gen);
  EXPECT_NEAR(moments(he.weight()).std, std::sqrt(2.0 / 144.0), 0.03 * std::sqrt(2.0 / 144.0));
  EXPECT_EQ(he.bias().to_vector<float>(), std::vector<float>(64, 0.0F));
  // glorot_uniform: U(±√(6 / (fan_in + fan_out))), fan_out = 64·9.
  Conv2d glorot({.in_channels = 16, .out_channels = 64, .kernel_size = 3, .init = Init::glorot_uniform}, gen);
  const double gb = std::sqrt(6.0 / (144.0 + 576.0));
  const Moments g = moments(glorot.weight());
  EXPECT_GE(g.lo, -gb);
  EXPECT_LE(g.hi, gb);
  EXPECT_GT(g.hi, 0.95 * gb);
  // glorot_normal and lecun_normal.
  Conv2d gn({.in_channels = 16, .out_channels = 64, .kernel_size = 3, .init = Init::glorot_normal}, gen);
  EXPECT_NEAR(moments(gn.weight()).std, std::sqrt(2.0 / 720.0), 0.03 * std::sqrt(2.0 / 720.0));
  Conv2d ln({.in_channels = 16, .out_channels = 64, .kernel_size = 3, .init = Init::lecun_normal}, gen);
  EXPECT_NEAR(moments(ln.weight()).std, std::sqrt(1.0 / 144.0), 0.03 * std::sqrt(1.0 / 144.0));
  // Same seed, same weights.
  Generator a(9), b(9);
  Conv2d ca({.in_channels = 2, .out_channels = 3, .kernel_size = 2}, a);
  Conv2d cb({.in_channels = 2, .out_channels = 3, .kernel_size = 2}, b);
  EXPECT_EQ(ca.weight().to_vector<float>(), cb.weight().to_vector<float>());
}

TEST(Conv2dLayer, SamePaddingKeepsTheSizeAndPutsTheOddPixelLast) {
  Generator gen(3);
  const Tensor x = randn({2, 3, 7, 6}, gen);
  // Odd kernel: symmetric padding.
  Conv2d odd({.in_channels = 3, .out_channels = 2, .kernel_size = 3, .padding = "same"}, gen);
  EXPECT_EQ(odd.name(), "Conv2d(3, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)");
  EXPECT_EQ(odd(x).to_vector<float>(),
            conv2d(x, odd.weight(), odd.bias(), {.pad_h = 1, .pad_w = 1}).to_vector<float>());
  // Even extent (4 by 2): total padding 3 and 1, the extra pixel at the bottom and right (PyTorch's rule).
  Conv2d even({.in_channels = 3, .out_channels = 2, .kernel_size = {4, 2}, .padding = "same"}, gen);
  const Tensor y = even(x);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 7, 6}));
  Tensor padded = Tensor::zeros({2, 3, 10, 7});
  {
    NoGradGuard g;
    Tensor inner = padded.slice(2, 1, 8).slice(3, 0, 6);
    copy_(inner, x);
  }
  EXPECT_LT(max_abs_diff(y, conv2d(padded, even.weight(), even.bias())), 1e-6);
  // Gradients flow through the padding back to the input.
  Tensor xi = x.detach().clone();
  xi.set_requires_grad(true);
  sum(even(xi)).backward();
  EXPECT_EQ(xi.grad().shape(), x.shape());
  // "valid" is no padding.
  Conv2d valid({.in_channels = 3, .out_channels = 2, .kernel_size = 3, .padding = "valid"}, gen);
  EXPECT_EQ(valid(x).shape(), (Shape{2, 2, 5, 4}));
}

TEST(Conv2dLayer, BadOptionsAndInputsAreRejectedClearly) {
  expect_contains(error_of([] { Conv2d c({.in_channels = 0, .out_channels = 2, .kernel_size = 3}); }),
                  {"Conv2d", "in_channels", "positive"});
  expect_contains(error_of([] { Conv2d c({.in_channels = 1, .out_channels = 2}); }),
                  {"Conv2d", "kernel_size", "(0, 0)"});
  expect_contains(error_of([] { Conv2d c({.in_channels = 3, .out_channels = 4, .kernel_size = 3, .groups = 2}); }),
                  {"Conv2d", "divisible by groups 2"});
  expect_contains(error_of([] {
                    Conv2d c({.in_channels = 2, .out_channels = 2, .kernel_size = 3, .stride = 2, .padding = "same"});
                  }),
                  {"Conv2d", "same", "stride (2, 2)"});
  expect_contains(error_of([] {
                    Conv2d c({.in_channels = 2, .out_channels = 2, .kernel_size = 3, .padding = "full"});
                  }),
                  {"Conv2d", "\"same\" or \"valid\"", "\"full\""});
  expect_contains(error_of([] { Conv2d c({.in_channels = 2, .out_channels = 2, .kernel_size = 3, .stride = 0}); }),
                  {"Conv2d", "stride", "(0, 0)"});
  Conv2d conv({.in_channels = 3, .out_channels = 2, .kernel_size = 3});
  expect_contains(error_of([&] { (void)conv(Tensor::zeros({1, 4, 5, 5})); }),
                  {"Conv2d(3, 2", "[N, 3, H, W]", "f32[1, 4, 5, 5]"});
}

// ---- pooling ------------------------------------------------------------------------

TEST(PoolingLayers, ForwardMatchesTheOpsWithPyTorchDefaults) {
  Generator gen(4);
  const Tensor x = randn({2, 3, 8, 7}, gen);
  MaxPool2d mp({.kernel_size = 2});
  EXPECT_EQ(mp.name(), "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))");
  EXPECT_EQ(mp(x).to_vector<float>(), max_pool2d(x, 2, 2, 2, 2).to_vector<float>());
  MaxPool2d mp3({.kernel_size = 3, .stride = {1, 2}, .padding = 1});
  EXPECT_EQ(mp3(x).to_vector<float>(), max_pool2d(x, 3, 3, 1, 2, 1, 1).to_vector<float>());

  AvgPool2d ap({.kernel_size = 3, .stride = 2, .padding = 1});
  EXPECT_EQ(ap.name(), "AvgPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), count_include_pad=true)");
  const Pool2dOptions o{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  EXPECT_EQ(ap(x).to_vector<float>(), avg_pool2d(x, o).to_vector<float>());
  AvgPool2d ap_real({.kernel_size = 3, .stride = 2, .padding = 1, .count_include_pad = false});
  Pool2dOptions o_real = o;
  o_real.count_include_pad = false;
  EXPECT_EQ(ap_real(x).to_vector<float>(), avg_pool2d(x, o_real).to_vector<float>());
  EXPECT_NE(ap_real(x).to_vector<float>(), ap(x).to_vector<float>());  // the corners differ

  GlobalAveragePool2d gap;
  const Tensor y = gap(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_LT(max_abs_diff(y, mean(x, {2, 3})), 1e-6);
  EXPECT_EQ(gap.name(), "GlobalAveragePool2d()");
  EXPECT_TRUE(gap.parameters().empty());
}

TEST(PoolingLayers, GlobalAveragePoolGradientIsOneOverTheArea) {
  Tensor x = Tensor::ones({2, 3, 4, 5});
  x.set_requires_grad(true);
  GlobalAveragePool2d gap;
  sum(gap(x)).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), std::vector<float>(120, 1.0F / 20.0F));
}

TEST(PoolingLayers, BadOptionsAndInputs) {
  expect_contains(error_of([] { MaxPool2d p({}); }), {"MaxPool2d", "kernel_size"});
  expect_contains(error_of([] { AvgPool2d p({.kernel_size = 2, .padding = 2}); }),
                  {"AvgPool2d", "padding", "half the kernel"});
  expect_contains(error_of([] { MaxPool2d p({.kernel_size = 2, .stride = -1}); }), {"MaxPool2d", "stride"});
  GlobalAveragePool2d gap;
  expect_contains(error_of([&] { (void)gap(Tensor::zeros({2, 3})); }), {"GlobalAveragePool2d", "f32[2, 3]"});
}

// ---- BatchNorm ------------------------------------------------------------------------

TEST(BatchNormLayer, StateDictNamesMatchTorch) {
  BatchNorm2d bn(32);
  EXPECT_EQ(names_of(bn.state_dict()), (std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                                                  "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked().dtype(), DType::i64);
  EXPECT_EQ(bn.num_batches_tracked().shape(), Shape{});
  EXPECT_EQ(bn.weight().to_vector<float>(), std::vector<float>(32, 1.0F));
  EXPECT_EQ(bn.bias().to_vector<float>(), std::vector<float>(32, 0.0F));
  EXPECT_EQ(bn.running_mean().to_vector<float>(), std::vector<float>(32, 0.0F));
  EXPECT_EQ(bn.running_var().to_vector<float>(), std::vector<float>(32, 1.0F));
  // Buffers are not parameters: the optimizer never sees them.
  EXPECT_EQ(bn.parameters().size(), 2U);
  EXPECT_EQ(bn.named_buffers().size(), 3U);
  EXPECT_EQ(bn.name(), "BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");

  BatchNorm1d plain({.num_features = 4, .affine = false, .track_running_stats = false});
  EXPECT_TRUE(plain.state_dict().empty());
  EXPECT_EQ(plain.name(), "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=false, track_running_stats=false)");
  BatchNorm1d stats_only({.num_features = 4, .affine = false});
  EXPECT_EQ(names_of(stats_only.state_dict()),
            (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
}

TEST(BatchNormLayer, TrainUsesBatchStatisticsAndEvalTheRunningOnes) {
  Generator gen(5);
  BatchNorm2d bn({.num_features = 3, .eps = 1e-3, .momentum = 0.2});
  const Tensor x = add(mul(randn({4, 3, 5, 5}, gen), 2.0), 1.0);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  // Training: the op with batch statistics, and the buffers move as the op moves them.
  const Tensor y = bn(x);
  EXPECT_LT(max_abs_diff(y, batch_norm(x, rm, rv, bn.weight(), bn.bias(), true, 0.2, 1e-3)), 1e-6);
  EXPECT_EQ(bn.running_mean().to_vector<float>(), rm.to_vector<float>());
  EXPECT_EQ(bn.running_var().to_vector<float>(), rv.to_vector<float>());
  EXPECT_EQ(bn.num_batches_tracked().item(), 1.0);
  bn(x);
  EXPECT_EQ(bn.num_batches_tracked().item(), 2.0);

  // Eval: (x - running_mean)/√(running_var + eps); buffers and count stay put.
  bn.eval();
  const auto before_mean = bn.running_mean().to_vector<float>(), before_var = bn.running_var().to_vector<float>();
  const auto ye = bn(x).to_vector<float>();
  const auto xv = x.to_vector<float>();
  for (std::size_t k = 0; k < xv.size(); ++k) {
    const std::size_t c = (k / 25) % 3;
    EXPECT_NEAR(ye[k], (xv[k] - before_mean[c]) / std::sqrt(before_var[c] + 1e-3), 1e-5);
  }
  EXPECT_EQ(bn.running_mean().to_vector<float>(), before_mean);
  EXPECT_EQ(bn.running_var().to_vector<float>(), before_var);
  EXPECT_EQ(bn.num_batches_tracked().item(), 2.0);
  // A single sample is fine in eval mode.
  EXPECT_EQ(bn(x.slice(0, 0, 1)).shape(), (Shape{1, 3, 5, 5}));

  // Switching back through a container reaches the layer.
  Sequential seq{std::make_shared<BatchNorm2d>(3)};
  seq.eval();
  EXPECT_FALSE(seq[0]->is_training());
  seq.train();
  EXPECT_TRUE(seq[0]->is_training());
  (void)seq(x);
  EXPECT_EQ(dynamic_cast<const BatchNorm2d&>(*seq[0]).num_batches_tracked().item(), 1.0);
}

TEST(BatchNormLayer, WithoutRunningStatsEvalStillUsesTheBatch) {
  Generator gen(6);
  BatchNorm1d bn({.num_features = 5, .track_running_stats = false});
  const Tensor x = randn({8, 5}, gen);
  const auto train_out = bn(x).to_vector<float>();
  bn.eval();
  EXPECT_EQ(bn(x).to_vector<float>(), train_out);
}

TEST(BatchNormLayer, OneDimensionalTakesTwoAndThreeDimInputs) {
  Generator gen(7);
  BatchNorm1d bn(4);
  const Tensor x2 = randn({6, 4}, gen), x3 = randn({6, 4, 3}, gen);
  EXPECT_EQ(bn(x2).shape(), x2.shape());
  EXPECT_EQ(bn(x3).shape(), x3.shape());
  expect_contains(error_of([&] { (void)bn(randn({6, 4, 3, 2}, gen)); }),
                  {"BatchNorm1d(4", "[N, C] or [N, C, L]", "f32[6, 4, 3, 2]"});
  BatchNorm2d bn2(4);
  expect_contains(error_of([&] { (void)bn2(x3); }), {"BatchNorm2d(4", "[N, C, H, W]", "C = 4"});
  expect_contains(error_of([&] { (void)bn2(randn({2, 3, 2, 2}, gen)); }), {"C = 4", "f32[2, 3, 2, 2]"});
  expect_contains(error_of([] { BatchNorm2d b(0); }), {"BatchNorm2d", "num_features", "positive"});
  expect_contains(error_of([] { BatchNorm2d b({.num_features = 2, .momentum = 1.5}); }),
                  {"BatchNorm2d", "momentum", "1.5"});
  // Training on one value per channel cannot estimate a variance.
  expect_contains(error_of([&] { (void)bn(randn({1, 4}, gen)); }), {"more than 1 value per channel"});
}

TEST(BatchNormLayer, LoadStateDictRestoresBuffersAndCount) {
  Generator gen(8);
  BatchNorm2d a(3), b(3);
  for (int i = 0; i < 3; ++i) a(randn({4, 3, 2, 2}, gen));
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.running_mean().to_vector<float>(), a.running_mean().to_vector<float>());
  EXPECT_EQ(b.running_var().to_vector<float>(), a.running_var().to_vector<float>());
  EXPECT_EQ(b.num_batches_tracked().item(), 3.0);
}

// ---- LayerNorm -----------------------------------------------------------------------------

TEST(LayerNormLayer, LastDimMatchesTheOp) {
  Generator gen(9);
  LayerNorm ln(8);
  EXPECT_EQ(ln.name(), "LayerNorm((8,), eps=1e-05, elementwise_affine=true)");
  EXPECT_EQ(names_of(ln.state_dict()), (std::vector<std::string>{"weight", "bias"}));
  const Tensor x = randn({2, 3, 8}, gen);
  EXPECT_EQ(ln(x).to_vector<float>(), layer_norm(x, ln.weight(), ln.bias()).to_vector<float>());
  LayerNorm bare({.normalized_shape = {8}, .eps = 1e-12, .elementwise_affine = false});
  EXPECT_TRUE(bare.parameters().empty());
  EXPECT_EQ(bare.name(), "LayerNorm((8,), eps=1e-12, elementwise_affine=false)");
  EXPECT_EQ(bare(x).to_vector<float>(), layer_norm(x, Tensor(), Tensor(), 1e-12).to_vector<float>());
}

TEST(LayerNormLayer, SeveralTrailingDimsNormaliseTogether) {
  Generator gen(10);
  LayerNorm ln({.normalized_shape = {3, 4}});
  EXPECT_EQ(ln.name(), "LayerNorm((3, 4), eps=1e-05, elementwise_affine=true)");
  EXPECT_EQ(ln.weight().shape(), (Shape{3, 4}));
  {
    NoGradGuard g;  // a non-trivial affine part
    Tensor w = ln.weight(), b = ln.bias();
    copy_(w, randn({3, 4}, gen));
    copy_(b, randn({3, 4}, gen));
  }
  const Tensor x = randn({2, 5, 3, 4}, gen);
  const Tensor mu = mean(x, {2, 3}, true);
  const Tensor var = mean(square(sub(x, mu)), {2, 3}, true);
  const Tensor want = add(mul(div(sub(x, mu), sqrt(add(var, 1e-5))), ln.weight()), ln.bias());
  EXPECT_LT(max_abs_diff(ln(x), want), 1e-5);
  // Gradients reach the [3, 4] parameters with their shape.
  sum(square(ln(x))).backward();
  EXPECT_EQ(ln.weight().grad().shape(), (Shape{3, 4}));
  expect_contains(error_of([&] { (void)ln(randn({2, 4, 3}, gen)); }), {"LayerNorm((3, 4)", "[3, 4]", "f32[2, 4, 3]"});
  expect_contains(error_of([] { LayerNorm l({.normalized_shape = {}}); }), {"LayerNorm", "normalized_shape"});
}

// ---- Embedding --------------------------------------------------------------------------------

TEST(EmbeddingLayer, LooksUpRowsAndDescribesItself) {
  Generator gen(11);
  Embedding emb({.num_embeddings = 10, .embedding_dim = 4}, gen);
  EXPECT_EQ(emb.name(), "Embedding(10, 4)");
  EXPECT_EQ(names_of(emb.state_dict()), (std::vector<std::string>{"weight"}));
  const Tensor ids = Tensor::from_vector<std::int64_t>({3, 0, 9, 3, 1, 2}, {2, 3});
  const Tensor y = emb(ids);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4}));
  const auto w = emb.weight().to_vector<float>(), yv = y.to_vector<float>();
  const std::int64_t idv[] = {3, 0, 9, 3, 1, 2};
  for (int i = 0; i < 6; ++i)
    for (int d = 0; d < 4; ++d) EXPECT_EQ(yv[i * 4 + d], w[idv[i] * 4 + d]);
  // i32 ids work too.
  EXPECT_EQ(emb(ids.to(DType::i32)).to_vector<float>(), yv);
  // torch's default init is N(0, 1).
  Embedding big({.num_embeddings = 1000, .embedding_dim = 64}, gen);
  EXPECT_NEAR(moments(big.weight()).std, 1.0, 0.02);
  Embedding keras({.num_embeddings = 1000, .embedding_dim = 64, .init = Init::uniform}, gen);
  const Moments k = moments(keras.weight());
  EXPECT_GE(k.lo, -0.05);
  EXPECT_LE(k.hi, 0.05);
  EXPECT_EQ(keras.name(), "Embedding(1000, 64, init=uniform)");
}

TEST(EmbeddingLayer, PaddingRowStartsAtZeroAndGetsNoGradient) {
  Generator gen(12);
  Embedding emb({.num_embeddings = 6, .embedding_dim = 3, .padding_idx = 0}, gen);
  EXPECT_EQ(emb.name(), "Embedding(6, 3, padding_idx=0)");
  EXPECT_EQ(emb.weight().slice(0, 0, 1).to_vector<float>(), std::vector<float>(3, 0.0F));
  const Tensor ids = Tensor::from_vector<std::int64_t>({0, 2, 0, 5, 2, 0}, {2, 3});
  const Tensor y = emb(ids);
  EXPECT_EQ(y.slice(1, 0, 1).slice(0, 0, 1).to_vector<float>(), std::vector<float>(3, 0.0F));
  sum(mul(y, randn(y.shape(), gen))).backward();
  const auto g = emb.weight().grad().to_vector<float>();
  for (int d = 0; d < 3; ++d) EXPECT_EQ(g[d], 0.0F) << "padding row";
  double used = 0;
  for (int d = 0; d < 3; ++d) used += std::fabs(g[2 * 3 + d]) + std::fabs(g[5 * 3 + d]);
  EXPECT_GT(used, 0.0);  // the other looked-up rows do get gradients
  for (int d = 0; d < 3; ++d) EXPECT_EQ(g[1 * 3 + d], 0.0F) << "unused row";
  // Negative padding_idx counts from the end, as in torch.
  Embedding last({.num_embeddings = 6, .embedding_dim = 3, .padding_idx = -1}, gen);
  ASSERT_TRUE(last.options().padding_idx.has_value());
  EXPECT_EQ(*last.options().padding_idx, 5);
  EXPECT_EQ(last.weight().slice(0, 5, 6).to_vector<float>(), std::vector<float>(3, 0.0F));
}

TEST(EmbeddingLayer, MaskZeroMarksRealSteps) {
  Generator gen(13);
  auto emb = std::make_shared<Embedding>(EmbeddingOptions{.num_embeddings = 5, .embedding_dim = 2, .mask_zero = true},
                                         gen);
  EXPECT_EQ(emb->name(), "Embedding(5, 2, mask_zero=true)");
  const Tensor ids = Tensor::from_vector<std::int64_t>({4, 2, 0, 0, 1, 3, 3, 0}, {2, 4});
  const Tensor mask = emb->compute_mask(ids, Tensor());
  EXPECT_EQ(mask.dtype(), DType::boolean);
  EXPECT_EQ(mask.shape(), (Shape{2, 4}));
  EXPECT_EQ(mask.to_vector<bool>(), (std::vector<bool>{true, true, false, false, true, true, true, false}));
  // Through a Sequential the mask comes out of the whole stack.
  Sequential seq{emb, std::make_shared<Tanh>()};
  EXPECT_EQ(seq.compute_mask(ids, Tensor()).to_vector<bool>(), mask.to_vector<bool>());
  // Without mask_zero the incoming mask passes through.
  Embedding plain({.num_embeddings = 5, .embedding_dim = 2}, gen);
  EXPECT_FALSE(plain.compute_mask(ids, Tensor()).defined());
}

TEST(EmbeddingLayer, BadIdsAndOptionsAreNamed) {
  Embedding emb({.num_embeddings = 10, .embedding_dim = 4});
  expect_contains(error_of([&] { (void)emb(Tensor::from_vector<std::int64_t>({1, 12, 3}, {3})); }),
                  {"id 12", "out of range", "10"});
  expect_contains(error_of([&] { (void)emb(Tensor::from_vector<std::int64_t>({-1}, {1})); }), {"id -1", "10"});
  expect_contains(error_of([&] { (void)emb(Tensor::zeros({2})); }), {"embedding", "i64"});
  expect_contains(error_of([] { Embedding e({.num_embeddings = 0, .embedding_dim = 4}); }),
                  {"Embedding", "num_embeddings", "positive"});
  expect_contains(error_of([] { Embedding e({.num_embeddings = 4, .embedding_dim = 2, .padding_idx = 4}); }),
                  {"Embedding", "padding_idx 4", "4 rows"});
}

// ---- activations and reshapes -------------------------------------------------------------

TEST(ActivationLayers, MatchTheOps) {
  Generator gen(14);
  const Tensor x = randn({3, 5}, gen);
  EXPECT_EQ(Sigmoid()(x).to_vector<float>(), sigmoid(x).to_vector<float>());
  EXPECT_EQ(Tanh()(x).to_vector<float>(), tanh(x).to_vector<float>());
  EXPECT_EQ(GELU()(x).to_vector<float>(), gelu(x).to_vector<float>());
  EXPECT_EQ(GELU(GeluApproximation::tanh)(x).to_vector<float>(), gelu(x, true).to_vector<float>());
  EXPECT_EQ(SiLU()(x).to_vector<float>(), silu(x).to_vector<float>());
  EXPECT_EQ(Softmax(0)(x).to_vector<float>(), softmax(x, 0).to_vector<float>());
  EXPECT_EQ(LogSoftmax()(x).to_vector<float>(), log_softmax(x, -1).to_vector<float>());
  EXPECT_EQ(GELU(GeluApproximation::tanh).name(), "GELU(approximate=tanh)");
  EXPECT_EQ(Softmax(1).name(), "Softmax(dim=1)");
  EXPECT_EQ(LogSoftmax().name(), "LogSoftmax(dim=-1)");
  EXPECT_EQ(LeakyReLU(0.2).name(), "LeakyReLU(negative_slope=0.2)");
}

TEST(ActivationLayers, LeakyReLUValuesAndGradient) {
  Tensor x = Tensor::from_vector<float>({-2, -0.5F, 0, 1, 3}, {5});
  x.set_requires_grad(true);
  LeakyReLU act(0.1);
  const Tensor y = act(x);
  const auto yv = y.to_vector<float>();
  const std::vector<float> want{-0.2F, -0.05F, 0, 1, 3};
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(yv[i], want[i]);
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0.1F, 0.1F, 0.1F, 1, 1}));
}

TEST(ReshapeLayers, UnflattenAndReshapeKeepTheBatch) {
  Generator gen(15);
  Unflatten unflat(1, {1, 28});
  EXPECT_EQ(unflat(randn({4, 28, 28}, gen)).shape(), (Shape{4, 1, 28, 28}));
  EXPECT_EQ(unflat.name(), "Unflatten(dim=1, unflattened_size=(1, 28))");
  EXPECT_EQ(Unflatten(-1, {2, -1})(randn({3, 12}, gen)).shape(), (Shape{3, 2, 6}));
  Reshape r({7, 7, -1});
  EXPECT_EQ(r(randn({2, 98}, gen)).shape(), (Shape{2, 7, 7, 2}));
  EXPECT_EQ(r.name(), "Reshape(target_shape=(7, 7, -1))");
  EXPECT_EQ(Reshape({12}).name(), "Reshape(target_shape=(12,))");
  EXPECT_THROW((void)unflat(randn({4, 27, 2}, gen)), Error);
}

// ---- initialisers ------------------------------------------------------------------------------

TEST(Initialisers, NormalVariantsHaveTorchStandardDeviations) {
  Generator gen(16);
  Tensor w = Tensor::empty({256, 128});
  init::xavier_normal_(w, gen, 2.0);
  EXPECT_NEAR(moments(w).std, 2.0 * std::sqrt(2.0 / 384.0), 0.02 * 2.0 * std::sqrt(2.0 / 384.0));
  init::kaiming_normal_(w, gen);
  EXPECT_NEAR(moments(w).std, std::sqrt(2.0 / 128.0), 0.02 * std::sqrt(2.0 / 128.0));
  EXPECT_NEAR(moments(w).mean, 0.0, 0.01);
  init::apply_(w, Init::zeros, gen);
  EXPECT_EQ(moments(w).hi, 0.0);
  expect_contains(error_of([&] { init::apply_(w, Init::torch_default, gen); }), {"torch_default", "layer"});
  EXPECT_STREQ(init_name(Init::he_uniform), "he_uniform");
}

// ---- the conv → bn → relu → maxpool fixture through the modules ------------------------------

io::SafetensorsFile fixture(const std::string& name) {
  return io::SafetensorsFile::open(std::string(KILN_FIXTURES_DIR) + "/" + name);
}

// As ops/fixtures_test.cpp: absolute error for values of order 1, relative for larger ones.
double fixture_error(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return 1e9;
  const auto g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    worst = std::max(worst, std::fabs(g[i] - w[i]) / std::max(1.0, std::fabs(w[i])));
  }
  return worst;
}

TEST(LayersFixture, ConvBatchNormReluMaxPoolModulesMatchPyTorch) {
  // Kiln's modules are f32, so the tolerance is the f32 one of the op-level
  // replay (ops/fixtures_test.cpp explains the 5e-5).
  constexpr double kTol = 5e-5;
  const auto f = fixture("conv-bn-pool-expected.safetensors");
  auto conv =
      std::make_shared<Conv2d>(Conv2dOptions{.in_channels = 3, .out_channels = 5, .kernel_size = 3, .padding = 1});
  auto bn = std::make_shared<BatchNorm2d>(5);
  Sequential model{conv, bn, std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(MaxPool2dOptions{.kernel_size = 2})};
  EXPECT_EQ(names_of(model.state_dict()),
            (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked"}));
  // torch's state dict of that model: the fixture's conv weights, BatchNorm2d's fresh state.
  StateDict state;
  state.add("0.weight", f.tensor("conv.weight"));
  state.add("0.bias", f.tensor("conv.bias"));
  state.add("1.weight", Tensor::ones({5}));
  state.add("1.bias", Tensor::zeros({5}));
  state.add("1.running_mean", Tensor::zeros({5}));
  state.add("1.running_var", Tensor::ones({5}));
  state.add("1.num_batches_tracked", Tensor::scalar(0, DType::i64));
  model.load_state_dict(state);

  Tensor x = f.tensor("x").contiguous().clone();
  x.set_requires_grad(true);
  const Tensor y = model(x);
  sum(cos(y)).backward();

  EXPECT_LE(fixture_error(y, f.tensor("y")), kTol) << "y";
  EXPECT_LE(fixture_error(x.grad(), f.tensor("dx")), kTol) << "dx";
  EXPECT_LE(fixture_error(conv->weight().grad(), f.tensor("grad.conv.weight")), kTol) << "grad.conv.weight";
  EXPECT_LE(fixture_error(conv->bias().grad(), f.tensor("grad.conv.bias")), kTol) << "grad.conv.bias";
  EXPECT_LE(fixture_error(bn->weight().grad(), f.tensor("grad.bn.weight")), kTol) << "grad.bn.weight";
  EXPECT_LE(fixture_error(bn->bias().grad(), f.tensor("grad.bn.bias")), kTol) << "grad.bn.bias";
  EXPECT_LE(fixture_error(bn->running_mean(), f.tensor("bn.running_mean_after")), kTol) << "running_mean";
  EXPECT_LE(fixture_error(bn->running_var(), f.tensor("bn.running_var_after")), kTol) << "running_var";
  EXPECT_EQ(bn->num_batches_tracked().item(), 1.0);
}

}  // namespace
}  // namespace kiln::nn
