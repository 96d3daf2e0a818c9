// Every path of the CPU reduce kernel (rows, rows cut into pieces, leading axes
// with and without row blocks and column tiles) against plain loops, with NaN
// and infinities, non-contiguous inputs, other dtypes, and the promise that the
// thread count does not change a single bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/core/parallel.h"
#include "kiln/ops/ops.h"

namespace kiln {
namespace {

// Reference reductions of a contiguous [outer, n, inner] array over n.
struct Reference {
  std::vector<double> sum, abs_sum;
  std::vector<float> max, min;
};

Reference reference(const std::vector<float>& x, std::int64_t outer, std::int64_t n, std::int64_t inner) {
  Reference r;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < inner; ++j) {
      double s = 0, a = 0;
      float hi = -std::numeric_limits<float>::infinity(), lo = std::numeric_limits<float>::infinity();
      bool nan = false;
      for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[static_cast<std::size_t>((o * n + i) * inner + j)];
        s += v;
        a += std::fabs(v);
        nan = nan || std::isnan(v);
        hi = std::max(hi, v);
        lo = std::min(lo, v);
      }
      r.sum.push_back(s);
      r.abs_sum.push_back(a);
      r.max.push_back(nan ? std::numeric_limits<float>::quiet_NaN() : hi);
      r.min.push_back(nan ? std::numeric_limits<float>::quiet_NaN() : lo);
    }
  }
  return r;
}

// Exact for max and min (NaN where the reference has NaN), f32 rounding for sums.
void expect_matches(const std::vector<float>& x, const Shape& shape3, const char* what) {
  const std::int64_t outer = shape3[0], n = shape3[1], inner = shape3[2];
  const Tensor t = Tensor::from_vector(x, shape3);
  const Reference ref = reference(x, outer, n, inner);
  const auto s = sum(t, {1}).to_vector<float>();
  const auto hi = max(t, {1}).to_vector<float>();
  const auto lo = min(t, {1}).to_vector<float>();
  ASSERT_EQ(s.size(), ref.sum.size()) << what;
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (std::isnan(ref.max[k])) {
      EXPECT_TRUE(std::isnan(s[k]) && std::isnan(hi[k]) && std::isnan(lo[k])) << what << " column " << k;
      continue;
    }
    if (std::isfinite(ref.sum[k])) {
      EXPECT_NEAR(s[k], ref.sum[k], 1e-5 * ref.abs_sum[k]) << what << " column " << k;
    } else if (std::isnan(ref.sum[k])) {  // inf - inf
      EXPECT_TRUE(std::isnan(s[k])) << what << " column " << k;
    } else {
      EXPECT_EQ(s[k], ref.sum[k]) << what << " column " << k;
    }
    EXPECT_EQ(hi[k], ref.max[k]) << what << " column " << k;
    EXPECT_EQ(lo[k], ref.min[k]) << what << " column " << k;
  }
}

std::vector<float> random_values(std::int64_t count, std::uint64_t seed) {
  Generator gen(seed);
  return randn({count}, gen).to_vector<float>();
}

TEST(ReducePaths, MatchPlainLoopsOnEveryPath) {
  // [outer, n, inner]: rows (short, odd, longer than one 32768-element piece),
  // leading axes narrower than a vector, not a multiple of 16, wider than one
  // 4096-column tile, and tall enough to be cut into row blocks.
  const std::vector<Shape> shapes = {{1, 1, 1},     {7, 13, 1},     {3, 100003, 1}, {2, 65536, 1},
                                     {1, 5, 3},     {4, 9, 17},     {1, 300, 4099}, {2, 3, 10000},
                                     {1, 10000, 33}, {3, 4001, 100}, {1, 70000, 2}};
  std::uint64_t seed = 1;
  for (const Shape& s : shapes) {
    const auto x = random_values(s[0] * s[1] * s[2], seed++);
    expect_matches(x, s, shape_str(s).c_str());
  }
}

TEST(ReducePaths, NanPropagatesFromAnyPosition) {
  // NaN first, inside the vector lanes, and in the scalar tail, for short and long rows and for columns.
  for (const Shape& s : std::vector<Shape>{{5, 7, 1}, {3, 1000, 1}, {1, 40000, 1}, {2, 1000, 21}, {1, 9000, 40}}) {
    const std::int64_t count = s[0] * s[1] * s[2];
    for (const std::int64_t at : {std::int64_t{0}, count / 2 + 5, count - 1}) {
      auto x = random_values(count, 7);
      x[static_cast<std::size_t>(at)] = std::numeric_limits<float>::quiet_NaN();
      expect_matches(x, s, (shape_str(s) + " NaN at " + std::to_string(at)).c_str());
    }
  }
}

TEST(ReducePaths, InfinitiesAreTheirOwnExtremes) {
  // A row or column of -inf has maximum -inf (not the lowest finite float), of +inf minimum +inf.
  const float inf = std::numeric_limits<float>::infinity();
  for (const Shape& s : std::vector<Shape>{{2, 100, 1}, {1, 50, 37}}) {
    const std::int64_t count = s[0] * s[1] * s[2];
    const Tensor neg = Tensor::full(s, -inf), pos = Tensor::full(s, inf);
    for (const float v : max(neg, {1}).to_vector<float>()) EXPECT_EQ(v, -inf) << shape_str(s);
    for (const float v : min(pos, {1}).to_vector<float>()) EXPECT_EQ(v, inf) << shape_str(s);
    for (const float v : sum(neg, {1}).to_vector<float>()) EXPECT_EQ(v, -inf) << shape_str(s);
    std::vector<float> mixed(static_cast<std::size_t>(count), -inf);
    mixed.back() = 3.0F;
    expect_matches(mixed, s, (shape_str(s) + " -inf and 3").c_str());
    // Both infinities in one row: max and min must not take inf - inf for a NaN.
    std::vector<float> both(static_cast<std::size_t>(count));
    for (std::size_t k = 0; k < both.size(); ++k) both[k] = k % 3 == 0 ? inf : (k % 3 == 1 ? -inf : 1.0F);
    expect_matches(both, s, (shape_str(s) + " +inf and -inf").c_str());
  }
  // Finite values whose running sums overflow both ways: max and min stay exact.
  std::vector<float> huge(3000);
  for (std::size_t k = 0; k < huge.size(); ++k) huge[k] = (k / 64) % 2 == 0 ? 3e38F : -3e38F;
  huge[1234] = 3.25e38F;
  const Tensor h = Tensor::from_vector(huge, {3000});
  EXPECT_EQ(max(h).item(), static_cast<double>(3.25e38F));
  EXPECT_EQ(min(h).item(), static_cast<double>(-3e38F));
}

TEST(ReducePaths, NonContiguousInputsMatchTheirContiguousCopies) {
  Generator gen(21);
  const Tensor base = randn({40, 300, 7}, gen);
  const std::vector<Tensor> views = {base.transpose(0, 2), base.slice(1, 1, 300, 3), base.permute({1, 2, 0})};
  for (const Tensor& v : views) {
    const Tensor c = v.contiguous();
    for (const std::vector<std::int64_t>& dims : std::vector<std::vector<std::int64_t>>{{0}, {1}, {2}, {0, 1}, {}}) {
      EXPECT_EQ(sum(v, dims).to_vector<float>(), sum(c, dims).to_vector<float>()) << v.str();
      EXPECT_EQ(max(v, dims).to_vector<float>(), max(c, dims).to_vector<float>()) << v.str();
      EXPECT_EQ(min(v, dims).to_vector<float>(), min(c, dims).to_vector<float>()) << v.str();
    }
  }
}

TEST(ReducePaths, OtherDtypes) {
  // Integers: exact column sums and maxima.
  const std::int64_t n = 5000, inner = 19;
  std::vector<std::int32_t> xi(static_cast<std::size_t>(n * inner));
  for (std::size_t k = 0; k < xi.size(); ++k) xi[k] = static_cast<std::int32_t>((k * 7919) % 1000) - 500;
  const Tensor ti = Tensor::from_vector(xi, {n, inner});
  const auto si = sum(ti, {0}).to_vector<std::int32_t>();
  const auto mi = max(ti, {0}).to_vector<std::int32_t>();
  for (std::int64_t j = 0; j < inner; ++j) {
    std::int32_t s = 0;
    std::int32_t m = std::numeric_limits<std::int32_t>::lowest();
    for (std::int64_t i = 0; i < n; ++i) {
      s += xi[static_cast<std::size_t>(i * inner + j)];
      m = std::max(m, xi[static_cast<std::size_t>(i * inner + j)]);
    }
    EXPECT_EQ(si[static_cast<std::size_t>(j)], s) << j;
    EXPECT_EQ(mi[static_cast<std::size_t>(j)], m) << j;
  }
  // 16-bit floats accumulate in f32: max of bf16 values is one of them, exactly.
  Generator gen(5);
  const Tensor b = randn({33, 70001}, gen).to(DType::bf16);
  const auto bv = b.to_vector<float>();
  const auto bm = max(b, {1}).to_vector<float>();
  for (std::size_t r = 0; r < 33; ++r) {
    float m = -std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < 70001; ++i) m = std::max(m, bv[r * 70001 + i]);
    EXPECT_EQ(bm[r], m) << r;
  }
}

TEST(ReducePaths, ResultsDoNotDependOnTheThreadCount) {
  // The kernel cuts work by shape alone and joins partial results in a fixed
  // order, so 1 and 2 threads give the same bits on every path.
  Generator gen(13);
  const std::vector<Tensor> inputs = {rand({1 << 20}, gen), randn({3, 100003}, gen), randn({4096, 33}, gen),
                                      randn({10000, 33}, gen), randn({2, 300, 4099}, gen), randn({257, 129}, gen)};
  auto run = [&] {
    std::vector<std::vector<float>> out;
    for (const Tensor& x : inputs) {
      for (std::int64_t d = 0; d < x.dim(); ++d) {
        out.push_back(sum(x, {d}).to_vector<float>());
        out.push_back(max(x, {d}).to_vector<float>());
      }
      out.push_back(sum(x).to_vector<float>());
    }
    return out;
  };
  const int saved = num_threads();
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  set_num_threads(saved);
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace kiln
