// Causal self-attention, fused (causal_self_attention_qkv: tiled kernels, one
// node, packed d(qkv)) against composed (matmul + masked_fill + softmax on
// [B, H, T, d]), forward + backward and forward alone, f32, at GPT-2 124M's
// shape (B = 4, H = 12, d = 64) with T = 1024 and T = 64; plus the GEMM rate
// of a same-sized matmul as the yardstick.
//
// FLOPs counted (useful work only, the same count for both versions):
//   forward  = 4·B·H·T²·d / 2   (QKᵀ and PV, 2·T²·d each, halved by causality)
//   backward = 2.5 × forward    (S recomputed, dV, dP, dQ, dK: five products)
// so forward + backward = 3.5 × forward. The composed version computes the
// full T×T scores (twice the work counted) and materialises them.
// Run: KILN_NUM_THREADS=2 build/bench/bench_attention --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>

#include "kiln/core/parallel.h"
#include "kiln/ops/ops.h"

namespace {

constexpr std::int64_t kBatch = 4, kHeads = 12, kHeadDim = 64, kModel = kHeads * kHeadDim;

double forward_flops(std::int64_t T) {
  return 4.0 * kBatch * kHeads * static_cast<double>(T) * static_cast<double>(T) * kHeadDim / 2.0;
}

void report(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The composed version on q, k, v cut from the same packed projection as the fused one reads.
kiln::Tensor composed(const kiln::Tensor& qkv, std::int64_t T) {
  const auto heads = [&](std::int64_t part) {
    const kiln::Tensor x = qkv.slice(2, part * kModel, (part + 1) * kModel);
    return x.reshape({kBatch, T, kHeads, kHeadDim}).permute({0, 2, 1, 3});
  };
  return kiln::scaled_dot_product_attention_composed(heads(0), heads(1), heads(2), true)
      .permute({0, 2, 1, 3})
      .reshape({kBatch, T, kModel});
}

kiln::Tensor fused(const kiln::Tensor& qkv, std::int64_t /*T*/) { return kiln::causal_self_attention_qkv(qkv, kHeads); }

template <kiln::Tensor (*Attention)(const kiln::Tensor&, std::int64_t)>
void BM_ForwardBackward(benchmark::State& state) {
  const std::int64_t T = state.range(0);
  kiln::Generator gen(1);
  kiln::Tensor qkv = kiln::randn({kBatch, T, 3 * kModel}, gen);
  qkv.set_requires_grad(true);
  const kiln::Tensor grad = kiln::randn({kBatch, T, kModel}, gen);
  for (auto _ : state) {
    qkv.zero_grad();
    Attention(qkv, T).backward(grad);
    benchmark::DoNotOptimize(qkv.grad().raw_data());
  }
  report(state, 3.5 * forward_flops(T));
}

template <kiln::Tensor (*Attention)(const kiln::Tensor&, std::int64_t)>
void BM_Forward(benchmark::State& state) {
  const std::int64_t T = state.range(0);
  kiln::Generator gen(1);
  const kiln::Tensor qkv = kiln::randn({kBatch, T, 3 * kModel}, gen);
  kiln::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(Attention(qkv, T).raw_data());
  report(state, forward_flops(T));
}

// The yardstick: one f32 GEMM of GPT-2's qkv projection at T = 1024, [B·T, C]·[C, 3C].
void BM_GemmReference(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor x = kiln::randn({kBatch * 1024, kModel}, gen), w = kiln::randn({kModel, 3 * kModel}, gen);
  benchmark::DoNotOptimize(kiln::matmul(x, w).raw_data());  // warm the primitive cache
  for (auto _ : state) benchmark::DoNotOptimize(kiln::matmul(x, w).raw_data());
  report(state, 2.0 * kBatch * 1024 * kModel * 3 * kModel);
}

}  // namespace

BENCHMARK(BM_ForwardBackward<fused>)->Name("BM_FusedForwardBackward")->Arg(1024)->Arg(64)->UseRealTime();
BENCHMARK(BM_ForwardBackward<composed>)->Name("BM_ComposedForwardBackward")->Arg(1024)->Arg(64)->UseRealTime();
BENCHMARK(BM_Forward<fused>)->Name("BM_FusedForward")->Arg(1024)->Arg(64)->UseRealTime();
BENCHMARK(BM_Forward<composed>)->Name("BM_ComposedForward")->Arg(1024)->Arg(64)->UseRealTime();
BENCHMARK(BM_GemmReference)->UseRealTime();

BENCHMARK_MAIN();
