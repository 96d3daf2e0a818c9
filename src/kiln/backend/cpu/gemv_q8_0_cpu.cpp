// linear() on q8_0 weights for the CPU (ops/quantized_weights.h): the weight
// quantizer, the rounding of input rows to q8_0, and the int8 GEMV that
// streams the weight's quants once per call.
//
// The arithmetic is llama.cpp's for a q8_0 model on x86: each input row is cut
// into 32-value blocks; a block gets d_x = max|x| / 127 (kept as f16) and
// quants round-half-even(x · 127 / max|x|); an output is Σ_blocks d_w·d_x·Σ q_w·q_x,
// the inner sums exact in int32, the outer one in f32.
//
// AVX-512 VNNI: vpdpbusd multiplies 64 unsigned bytes by 64 signed bytes and
// adds each run of four products into one of 16 int32 lanes. W's quants are
// stored + 128 (ops/q8_0_weight.h), so W is the unsigned operand just as it
// sits in memory and x the signed one. The + 128 adds 128·Σq_x to each block's
// sum; the lanes start from minus that (worked out once per input row), so each
// block's sum comes out exact with no fix-up instruction per weight. One
// 64-byte vector covers two blocks (lanes 0-7, 8-15); its lanes are converted
// to f32 and multiplied by their block's d_w·d_x (16 scales widened from f16
// at a time, then spread two per vector by a permute) into f32 accumulators
// that are summed once per output.
#include "kiln/backend/cpu/register.h"

// GCC 12's AVX-512 headers pass an undefined vector as the masked-off source
// of many intrinsics (reductions, masked loads), which -Wmaybe-uninitialized
// reports at every inlined use (GCC bug 105593); see gemv_cpu.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kiln/backend/cpu/linear_epilogue.h"
#include "kiln/core/dtype.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/kernels.h"

namespace kiln::cpu {

namespace {

constexpr std::int64_t kBlock = Q8_0Weight::kBlock;
constexpr std::int64_t kChunk = 64;       // quants per vector: two blocks
constexpr std::int64_t kGroup = 16;       // blocks whose scales one vector holds
constexpr std::int64_t kMaxRows = 4;      // input rows sharing each load of W
constexpr std::int64_t kRowsPerTask = 32; // rows of W per parallel chunk
// Rows of W per tile when more than kMaxRows inputs come (a prompt): the tile
// (at most 16 × K bytes, 48 KiB for K = 3072) stays in cache while every
// group of four input rows passes over it, so W is read from memory once.
constexpr std::int64_t kTileRows = 16;
// Each 64-byte load of W is preceded by a prefetch of the line this many
// bytes further on (crossing into the next rows of W, which follow in memory).
// Measured on GPT-2 124M decoding, 2 threads (Zen 5), A/B in alternation:
// +6 to 9 % (268 → 285, 281 → 306 tokens/s) with 4 KiB; 1, 2 and 8 KiB,
// prefetching to L2 only, and prefetching the scales too were no better.
constexpr std::int64_t kPrefetchBytes = 4096;

// ---- the weight: ggml's reference rounding ------------------------------------------

void quantize_q8_0_cpu(const Tensor& w, const Q8_0Weight& out) {
  const std::int64_t N = w.shape()[0], K = w.shape()[1], nb = K / kBlock;
  const float* src = w.data<float>();
  std::uint8_t* quants = out.quants.data<std::uint8_t>();
  f16* scales = out.scales.data<f16>();
  parallel_for(0, N, 16, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n) {
      for (std::int64_t b = 0; b < nb; ++b) {
        const float* x = src + n * K + b * kBlock;
        std::uint8_t* q = quants + n * K + b * kBlock;
        float amax = 0.0F;
        for (std::int64_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
        // 1/d from the f32 d, before d is rounded to f16: quantize_row_q8_0_ref's order.
        const float d = amax / 127.0F;
        const float id = d != 0.0F ? 1.0F / d : 0.0F;
        scales[n * nb + b] = f16(d);
        for (std::int64_t j = 0; j < kBlock; ++j) {
          const float r = std::round(x[j] * id);  // half away from zero, as roundf
          // The clamp only matters for non-finite weights (converting NaN or inf is UB).
          const float c = r >= 127.0F ? 127.0F : (r <= -127.0F ? -127.0F : (r == r ? r : 0.0F));
          q[j] = static_cast<std::uint8_t>(static_cast<int>(c) + 128);
        }
      }
    }
  });
}

// ---- the input rows -------------------------------------------------------------------

// Input rows rounded to q8_0, each padded to whole vectors with zeros (quants 0,
// scale 0) so the GEMV never reads past a row or needs a scalar tail.
struct InputRows {
  std::int64_t blocks = 0, chunks = 0, groups = 0;
  Tensor q;     // i8 as u8 [M, chunks·64]: the quants
  Tensor corr;  // i32 [M, chunks·16]: lane 0 / 8 of chunk c = -128·Σq of block 2c / 2c+1
  Tensor d;     // f32 [M, groups·16]: d_x of each block, rounded through f16
  std::int8_t* q_row(std::int64_t m) const {
    return reinterpret_cast<std::int8_t*>(q.data<std::uint8_t>()) + m * chunks * kChunk;
  }
  std::int32_t* corr_row(std::int64_t m) const { return corr.data<std::int32_t>() + m * chunks * 16; }
  float* d_row(std::int64_t m) const { return d.data<float>() + m * groups * kGroup; }
};

// One block of 32 values: writes the quants, returns Σq, sets d_x. The scale
// is 127 / max|x| in f32, not 1 / d_x, as llama.cpp's x86 code takes it.
int quantize_input_block(const float* x, std::int8_t* q, float& d) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
  const __m512 id = _mm512_set1_ps(amax != 0.0F ? 127.0F / amax : 0.0F);
  constexpr int kNearestEven = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512i qa = _mm512_cvt_roundps_epi32(_mm512_mul_ps(a, id), kNearestEven);
  const __m512i qb = _mm512_cvt_roundps_epi32(_mm512_mul_ps(b, id), kNearestEven);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(qa));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(qb));
  d = static_cast<float>(f16(amax / 127.0F));
  return _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
#else
  float amax = 0.0F;
  for (std::int64_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float id = amax != 0.0F ? 127.0F / amax : 0.0F;
  int sum = 0;
  for (std::int64_t j = 0; j < kBlock; ++j) {
    const float r = std::nearbyint(x[j] * id);  // the default rounding mode: half to even
    const int v = r == r ? static_cast<int>(std::clamp(r, -127.0F, 127.0F)) : 0;
    q[j] = static_cast<std::int8_t>(v);
    sum += v;
  }
  d = static_cast<float>(f16(amax / 127.0F));
  return sum;
#endif
}

InputRows quantize_inputs(const float* x, std::int64_t M, std::int64_t K) {
  InputRows in;
  in.blocks = K / kBlock;
  in.chunks = (in.blocks + 1) / 2;
  in.groups = (in.blocks + kGroup - 1) / kGroup;
  in.q = Tensor::zeros({M, in.chunks * kChunk}, DType::u8);
  in.corr = Tensor::zeros({M, in.chunks * 16}, DType::i32);
  in.d = Tensor::zeros({M, in.groups * kGroup}, DType::f32);
  parallel_for(0, M, 8, [&](std::int64_t m0, std::int64_t m1) {
    for (std::int64_t m = m0; m < m1; ++m) {
      std::int8_t* q = in.q_row(m);
      std::int32_t* corr = in.corr_row(m);
      float* d = in.d_row(m);
      for (std::int64_t b = 0; b < in.blocks; ++b) {
        const int sum = quantize_input_block(x + m * K + b * kBlock, q + b * kBlock, d[b]);
        corr[(b / 2) * 16 + (b % 2) * 8] = -128 * sum;
      }
    }
  });
  return in;
}

// ---- the GEMV ---------------------------------------------------------------------------

struct Output {
  float* y;
  std::int64_t stride;  // N
  const float* bias;    // or nullptr
  LinearActivation act;
  void store(std::int64_t m, std::int64_t n, float v) const {
    y[m * stride + n] = apply_linear_activation(v + (bias != nullptr ? bias[n] : 0.0F), act);
  }
};

#if defined(__AVX512VNNI__) && defined(__AVX512F__) && defined(__AVX512BW__)
// Rows [n0, n1) of W against input rows [m0, m0 + M), one row of W at a time
// (W read in address order: one stream for the hardware prefetcher), each
// 64-byte load of W used by all M input rows.
template <int M>
void q8_0_rows(const Q8_0Weight& w, const InputRows& in, std::int64_t m0, std::int64_t n0, std::int64_t n1,
               const Output& out) {
  const std::int64_t K = w.cols(), nb = in.blocks;
  const std::uint8_t* quants = w.quants.data<std::uint8_t>();
  const auto* scales = reinterpret_cast<const std::uint16_t*>(w.scales.data<f16>());
  const std::int8_t* xq[M];
  const std::int32_t* xc[M];
  const float* xd[M];
  for (int m = 0; m < M; ++m) {
    xq[m] = in.q_row(m0 + m);
    xc[m] = in.corr_row(m0 + m);
    xd[m] = in.d_row(m0 + m);
  }
  // Permute indices: lanes 0-7 take scale 2c, lanes 8-15 scale 2c + 1.
  const __m512i pair = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  for (std::int64_t n = n0; n < n1; ++n) {
    const std::uint8_t* wq = quants + n * K;
    const std::uint16_t* wd = scales + n * nb;
    __m512 acc0[M], acc1[M];  // two chains per input row cover the FMA latency
    for (int m = 0; m < M; ++m) acc0[m] = acc1[m] = _mm512_setzero_ps();
    for (std::int64_t b0 = 0; b0 < nb; b0 += kGroup) {
      const std::int64_t blocks = std::min(kGroup, nb - b0);
      const __mmask16 live = blocks == kGroup ? __mmask16(0xFFFF) : __mmask16((1U << blocks) - 1U);
      const __m512 dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(live, wd + b0));
      __m512 s[M];  // d_w·d_x of the group's 16 blocks, per input row
      for (int m = 0; m < M; ++m) s[m] = _mm512_mul_ps(dw, _mm512_load_ps(xd[m] + b0));
      const std::int64_t c0 = b0 / 2;
      const auto step = [&](std::int64_t c, __m512i wv, __m512* acc) {
        _mm_prefetch(reinterpret_cast<const char*>(wq + b0 * kBlock + c * kChunk + kPrefetchBytes), _MM_HINT_T0);
        const __m512i idx = _mm512_add_epi32(pair, _mm512_set1_epi32(static_cast<int>(2 * c)));
        for (int m = 0; m < M; ++m) {
          const __m512i sum = _mm512_dpbusd_epi32(_mm512_load_si512(xc[m] + (c0 + c) * 16), wv,
                                                  _mm512_load_si512(xq[m] + (c0 + c) * kChunk));
          acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_permutexvar_ps(idx, s[m]), acc[m]);
        }
      };
      const std::int64_t full = blocks / 2;  // vectors of two whole blocks
      const std::uint8_t* wg = wq + b0 * kBlock;
      std::int64_t c = 0;
      for (; c + 1 < full; c += 2) {
        step(c, _mm512_loadu_si512(wg + c * kChunk), acc0);
        step(c + 1, _mm512_loadu_si512(wg + (c + 1) * kChunk), acc1);
      }
      if (c < full) {
        step(c, _mm512_loadu_si512(wg + c * kChunk), acc0);
        ++c;
      }
      // An odd last block: half a vector (the rest loads as 0 and meets x's zero padding).
      if (blocks % 2 != 0) step(c, _mm512_maskz_loadu_epi8(__mmask64(0xFFFFFFFFULL), wg + c * kChunk), acc1);
    }
    for (int m = 0; m < M; ++m) out.store(m0 + m, n, _mm512_reduce_add_ps(_mm512_add_ps(acc0[m], acc1[m])));
  }
}
#else
// Portable: the same integer sums per block, then the same f32 scaling.
template <int M>
void q8_0_rows(const Q8_0Weight& w, const InputRows& in, std::int64_t m0, std::int64_t n0, std::int64_t n1,
               const Output& out) {
  const std::int64_t K = w.cols(), nb = in.blocks;
  const std::uint8_t* quants = w.quants.data<std::uint8_t>();
  const f16* scales = w.scales.data<f16>();
  for (std::int64_t n = n0; n < n1; ++n) {
    for (int m = 0; m < M; ++m) {
      const std::int8_t* xq = in.q_row(m0 + m);
      const float* xd = in.d_row(m0 + m);
      float acc = 0.0F;
      for (std::int64_t b = 0; b < nb; ++b) {
        std::int32_t sum = 0;
        for (std::int64_t j = 0; j < kBlock; ++j) {
          sum += (static_cast<std::int32_t>(quants[n * K + b * kBlock + j]) - 128) * xq[b * kBlock + j];
        }
        acc += static_cast<float>(sum) * (static_cast<float>(scales[n * nb + b]) * xd[b]);
      }
      out.store(m0 + m, n, acc);
    }
  }
}
#endif

void rows_of_inputs(const Q8_0Weight& w, const InputRows& in, std::int64_t m0, std::int64_t rows, std::int64_t n0,
                    std::int64_t n1, const Output& out) {
  switch (rows) {
    case 1: return q8_0_rows<1>(w, in, m0, n0, n1, out);
    case 2: return q8_0_rows<2>(w, in, m0, n0, n1, out);
    case 3: return q8_0_rows<3>(w, in, m0, n0, n1, out);
    default: return q8_0_rows<4>(w, in, m0, n0, n1, out);
  }
}

void linear_q8_0_cpu(const Tensor& x, const Q8_0Weight& w, const Tensor& bias, LinearActivation act,
                     const Tensor& out) {
  const std::int64_t M = x.shape()[0], K = x.shape()[1], N = w.rows();
  if (K != w.cols() || K % kBlock != 0 || out.shape() != Shape{M, N}) {
    throw Error("linear_q8_0: input " + x.str() + ", q8_0 weight [" + std::to_string(N) + ", " +
                std::to_string(w.cols()) + "] and output " + out.str() + " do not fit (rows of a multiple of 32)");
  }
  if (M == 0 || N == 0) return;
  const InputRows in = quantize_inputs(x.data<float>(), M, K);
  const Output o{out.data<float>(), N, bias.defined() ? bias.data<float>() : nullptr, act};
  parallel_for(0, N, kRowsPerTask, [&](std::int64_t n0, std::int64_t n1) {
    const std::int64_t tile = M <= kMaxRows ? n1 - n0 : kTileRows;
    for (std::int64_t t0 = n0; t0 < n1; t0 += tile) {
      const std::int64_t t1 = std::min(n1, t0 + tile);
      for (std::int64_t m0 = 0; m0 < M; m0 += kMaxRows) rows_of_inputs(w, in, m0, std::min(kMaxRows, M - m0), t0, t1, o);
    }
  });
}

}  // namespace

void register_q8_0_kernels() {
  quantize_q8_0_kernels().set(DeviceKind::cpu, DType::f32, &quantize_q8_0_cpu);
  linear_q8_0_kernels().set(DeviceKind::cpu, DType::f32, &linear_q8_0_cpu);
}

}  // namespace kiln::cpu
