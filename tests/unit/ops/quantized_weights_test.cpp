// WeightFormatGuard(q8_0): linear() on a cached q8_0 copy of each weight,
// quantized exactly as ggml quantizes, remade when the weight changes, and
// the f32 path wherever q8_0 does not apply.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/io/gguf.h"
#include "kiln/models/gpt.h"
#include "kiln/ops/autocast.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/quantized_weights.h"

namespace kiln {
namespace {

using io::GgmlType;

double rel_err(const Tensor& got, const Tensor& want) {
  return max(abs(sub(got, want))).item() / std::max(1e-12, max(abs(want)).item());
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

// The q8_0 copy in GGUF's block layout (f16 d, then 32 int8 q per block).
std::vector<std::byte> as_gguf_blocks(const Q8_0Weight& w) {
  const std::int64_t N = w.rows(), K = w.cols(), nb = K / Q8_0Weight::kBlock;
  const std::uint8_t* q = w.quants.data<std::uint8_t>();
  const f16* d = w.scales.data<f16>();
  std::vector<std::byte> out;
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t b = 0; b < nb; ++b) {
      std::byte scale[2];
      std::memcpy(scale, &d[n * nb + b].bits, 2);
      out.insert(out.end(), scale, scale + 2);
      for (std::int64_t j = 0; j < Q8_0Weight::kBlock; ++j) {
        out.push_back(static_cast<std::byte>(static_cast<std::int8_t>(q[n * K + b * Q8_0Weight::kBlock + j] - 128)));
      }
    }
  }
  return out;
}

// Names the first block (34 bytes) that differs.
void expect_same_blocks(const std::vector<std::byte>& got, const std::vector<std::byte>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) {
      ADD_FAILURE() << what << ": block " << i / 34 << " differs at byte " << i % 34 << ": "
                    << std::to_integer<int>(got[i]) << " vs " << std::to_integer<int>(want[i]);
      return;
    }
  }
}

TEST(WeightFormat, GuardNestsAndBf16IsAutocast) {
  EXPECT_EQ(weight_format(), WeightFormat::f32);
  {
    const WeightFormatGuard q8(WeightFormat::q8_0);
    EXPECT_EQ(weight_format(), WeightFormat::q8_0);
    EXPECT_FALSE(autocast_dtype().has_value());
    {
      const WeightFormatGuard bf16(WeightFormat::bf16);
      EXPECT_EQ(weight_format(), WeightFormat::bf16);
      EXPECT_EQ(autocast_dtype(), DType::bf16);
    }
    EXPECT_EQ(weight_format(), WeightFormat::q8_0);
    EXPECT_FALSE(autocast_dtype().has_value());
  }
  EXPECT_EQ(weight_format(), WeightFormat::f32);
  for (const char* name : {"f32", "bf16", "q8_0"}) EXPECT_STREQ(weight_format_name(weight_format_from_name(name)), name);
  try {
    (void)weight_format_from_name("q4_0");
    FAIL() << "q4_0 was accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown weight format 'q4_0' (expected f32, bf16 or q8_0)");
  }
}

// gguf-py quantized the fixture's t.q8_0 with ggml's reference code; kiln
// dequantizes it on load, and quantize_q8_0 must give back the same bytes.
TEST(QuantizeQ8_0, RequantizingGgufPyQ8_0IsExact) {
  const auto f = io::GgufFile::open(std::filesystem::path(KILN_FIXTURES_DIR) / "gguf" / "gguf-py-all-types.gguf");
  const Tensor dequantized = f.dequantize("t.q8_0");
  ASSERT_EQ(dequantized.dim(), 2);
  const auto raw = f.bytes("t.q8_0");
  EXPECT_EQ(as_gguf_blocks(quantize_q8_0(dequantized)), std::vector<std::byte>(raw.begin(), raw.end()));
}

// The same over a matrix with blocks of every magnitude: zero, f16-subnormal
// scales, ordinary, large; and it matches the GGUF writer. (A block whose scale
// is below f16's smallest subnormal stores d = 0 and dequantizes to zeros,
// which requantize to zero quants: the same values, not the same bytes.)
TEST(QuantizeQ8_0, MatchesGgmlAndRequantizesExactly) {
  Generator gen(31);
  const std::int64_t N = 48, K = 256;
  Tensor w = randn({N, K}, gen);
  float* p = w.data<float>();
  for (std::int64_t b = 0; b < N * K / 32; ++b) {
    const float scale = std::pow(10.0F, static_cast<float>(b % 9) - 5.0F);  // 1e-5 (d ~ 2e-7) .. 1e3
    for (std::int64_t j = 0; j < 32; ++j) p[b * 32 + j] *= b % 11 == 0 ? 0.0F : scale;
  }
  const std::vector<float> values = w.to_vector<float>();
  const std::vector<std::byte> ggml = io::gguf_quantize(GgmlType::q8_0, values);
  expect_same_blocks(as_gguf_blocks(quantize_q8_0(w)), ggml, "quantizing the f32 weight");
  std::vector<float> back(values.size());
  io::gguf_dequantize(GgmlType::q8_0, ggml, back);
  expect_same_blocks(as_gguf_blocks(quantize_q8_0(Tensor::from_vector(back, {N, K}))), ggml, "requantizing");
  EXPECT_THROW((void)quantize_q8_0(randn({4, 40}, gen)), Error);
}

TEST(LinearQ8_0, FollowsF32ToQuantizationPrecision) {
  Generator gen(32);
  const Tensor x = randn({2, 3, 256}, gen), w = mul(randn({72, 256}, gen), 0.05), b = randn({72}, gen);
  const Tensor want = linear(x, w, b, LinearActivation::gelu_tanh);
  Tensor got;
  {
    const WeightFormatGuard q8(WeightFormat::q8_0);
    got = linear(x, w, b, LinearActivation::gelu_tanh);
  }
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_EQ(got.dtype(), DType::f32);
  EXPECT_FALSE(same_values(got, want));  // it did take the q8_0 path...
  EXPECT_LT(rel_err(got, want), 2e-2);    // ...which keeps about 8 bits of each operand
}

// A prompt's rows and the same rows one at a time (decoding) give identical outputs.
TEST(LinearQ8_0, AnyRowCountGivesTheSameRows) {
  Generator gen(33);
  const Tensor x = randn({9, 160}, gen), w = randn({45, 160}, gen), b = randn({45}, gen);
  const WeightFormatGuard q8(WeightFormat::q8_0);
  const Tensor all = linear(x, w, b);
  for (std::int64_t m = 0; m < 9; ++m) {
    EXPECT_TRUE(same_values(linear(x.slice(0, m, m + 1), w, b), all.slice(0, m, m + 1))) << "row " << m;
  }
}

TEST(LinearQ8_0, CopyIsKeptUntilTheWeightChanges) {
  Generator gen(34);
  Tensor w = randn({16, 64}, gen).set_requires_grad();
  const auto c1 = q8_0_weight(w);
  EXPECT_EQ(q8_0_weight(w).get(), c1.get());  // reused, not requantized
  const Tensor x = randn({1, 64}, gen);
  Tensor before;
  {
    NoGradGuard no_grad;
    const WeightFormatGuard q8(WeightFormat::q8_0);
    before = linear(x, w, Tensor());
    mul_(w, 2.0);  // an in-place write makes the copy stale
    const Tensor after = linear(x, w, Tensor());
    EXPECT_TRUE(same_values(after, mul(before, 2.0)));  // power-of-two scaling: exact in q8_0
  }
  const auto c2 = q8_0_weight(w);
  EXPECT_NE(c2.get(), c1.get());
  EXPECT_EQ(as_gguf_blocks(*c2), as_gguf_blocks(quantize_q8_0(w.detach())));
}

// Rows that are not whole 32-blocks, and training (a gradient needed), run
// the ordinary f32 linear, bit for bit.
TEST(LinearQ8_0, FallsBackToF32WhereQ8_0DoesNotApply) {
  Generator gen(35);
  const Tensor x = randn({3, 40}, gen), w = randn({10, 40}, gen), b = randn({10}, gen);
  const Tensor want = linear(x, w, b);
  {
    const WeightFormatGuard q8(WeightFormat::q8_0);
    EXPECT_TRUE(same_values(linear(x, w, b), want));
  }
  EXPECT_EQ(w.impl().q8_0_mirror, nullptr);
  const Tensor x2 = randn({3, 64}, gen);
  Tensor w2 = randn({10, 64}, gen).set_requires_grad();
  const Tensor want2 = linear(x2, w2, Tensor());
  const WeightFormatGuard q8(WeightFormat::q8_0);
  const Tensor got2 = linear(x2, w2, Tensor());
  EXPECT_TRUE(same_values(got2, want2));
  ASSERT_TRUE(got2.requires_grad());
  sum(got2).backward();
  EXPECT_TRUE(w2.grad().defined());
}

// GPT decoding under q8_0: every linear and the tied LM head read q8_0 copies;
// the logits stay close to f32's.
TEST(LinearQ8_0, GptDecodesWithQ8_0WeightsAndHead) {
  Generator gen(36);
  models::Gpt model(models::GptConfig{.vocab_size = 101, .n_positions = 16, .n_embd = 64, .n_layer = 2, .n_head = 4},
                    gen);
  model.eval();
  NoGradGuard no_grad;
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{3, 14, 15, 92, 65}, {1, 5});
  models::GptKvCache c32 = model.make_cache(1);
  const Tensor want = model.decode(ids, c32);
  const WeightFormatGuard q8(WeightFormat::q8_0);
  models::GptKvCache c8 = model.make_cache(1);
  const Tensor got = model.decode(ids, c8);
  EXPECT_FALSE(same_values(got, want));
  EXPECT_LT(rel_err(got, want), 5e-2);
  EXPECT_NE(model.wte().impl().q8_0_mirror, nullptr);  // the LM head
}

}  // namespace
}  // namespace kiln
