// kiln's own kernels against the machine's measured limits, in one run:
// GEMM (f32, bf16 on AMX) against the FMA peak, elementwise ops and
// reductions on 64 MiB tensors against a plain copy's bandwidth.
// Run: build/bench/bench_kiln_ops --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "kiln/core/parallel.h"
#include "kiln/ops/ops.h"
#include "machine_peak.h"

namespace {

double g_peak_gflops = 0;
double g_copy_gbps = 0;
constexpr std::int64_t kElems = (std::int64_t{64} << 20) / 4;  // 64 MiB of f32

void report_bandwidth(benchmark::State& state, double bytes_per_iter) {
  state.counters["GB/s"] = benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy_GB/s"] = g_copy_gbps;
}

void BM_PlainCopy64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::rand({kElems}, gen);
  kiln::Tensor b = kiln::Tensor::empty({kElems});
  for (auto _ : state) {
    kiln::parallel_for(0, kElems, 1 << 20, [&](std::int64_t lo, std::int64_t hi) {
      std::memcpy(b.data<float>() + lo, a.data<float>() + lo, static_cast<std::size_t>(hi - lo) * 4);
    });
    benchmark::ClobberMemory();
  }
  report_bandwidth(state, 2.0 * kElems * 4);
}

template <kiln::Tensor (*Op)(const kiln::Tensor&, const kiln::Tensor&)>
void BM_Binary64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::rand({kElems}, gen), b = kiln::rand({kElems}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(Op(a, b).raw_data());
  report_bandwidth(state, 3.0 * kElems * 4);
}

template <kiln::Tensor (*Op)(const kiln::Tensor&)>
void BM_Unary64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::randn({kElems}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(Op(a).raw_data());
  report_bandwidth(state, 2.0 * kElems * 4);
}

void BM_AddInPlace64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  kiln::Tensor a = kiln::rand({kElems}, gen);
  const kiln::Tensor b = kiln::rand({kElems}, gen);
  for (auto _ : state) kiln::add_(a, b);
  report_bandwidth(state, 3.0 * kElems * 4);
}

void BM_SumAll64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::rand({kElems}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(kiln::sum(a).raw_data());
  report_bandwidth(state, 1.0 * kElems * 4);
}

void BM_MaxRows64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::rand({4096, kElems / 4096}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(kiln::max(a, {1}).raw_data());
  report_bandwidth(state, 1.0 * kElems * 4);
}

void BM_SumColumns64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::rand({4096, kElems / 4096}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(kiln::sum(a, {0}).raw_data());
  report_bandwidth(state, 1.0 * kElems * 4);
}

// A bias gradient's shape: many short rows summed over the leading axis.
void BM_SumColumnsNarrow64MiB(benchmark::State& state) {
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::rand({kElems / 64, 64}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(kiln::sum(a, {0}).raw_data());
  report_bandwidth(state, 1.0 * kElems * 4);
}

void BM_Matmul(benchmark::State& state, kiln::DType dtype) {
  const std::int64_t n = state.range(0);
  kiln::Generator gen(1);
  const kiln::Tensor a = kiln::randn({n, n}, gen).to(dtype), b = kiln::randn({n, n}, gen).to(dtype);
  benchmark::DoNotOptimize(kiln::matmul(a, b).raw_data());  // warm the primitive cache
  for (auto _ : state) benchmark::DoNotOptimize(kiln::matmul(a, b).raw_data());
  const double flops = 2.0 * static_cast<double>(n) * n * n;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_f32_GFLOP/s"] = g_peak_gflops;
}

}  // namespace

BENCHMARK(BM_PlainCopy64MiB)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Binary64MiB<kiln::add>)->Name("BM_Add64MiB")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Binary64MiB<kiln::mul>)->Name("BM_Mul64MiB")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_AddInPlace64MiB)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Unary64MiB<kiln::relu>)->Name("BM_Relu64MiB")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Unary64MiB<kiln::exp>)->Name("BM_Exp64MiB")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Unary64MiB<kiln::sigmoid>)->Name("BM_Sigmoid64MiB")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_Unary64MiB<kiln::tanh>)->Name("BM_Tanh64MiB")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_SumAll64MiB)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_MaxRows64MiB)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_SumColumns64MiB)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_SumColumnsNarrow64MiB)->UseRealTime()->MinTime(0.5);
BENCHMARK_CAPTURE(BM_Matmul, f32, kiln::DType::f32)->Arg(1024)->Arg(2048)->Arg(4096)->UseRealTime()->MinTime(1.0);
BENCHMARK_CAPTURE(BM_Matmul, bf16, kiln::DType::bf16)->Arg(1024)->Arg(2048)->UseRealTime()->MinTime(1.0);

int main(int argc, char** argv) {
  const int threads = kiln::num_threads();
  g_peak_gflops = kiln::bench::measure_fma_peak_gflops(threads);
  g_copy_gbps = kiln::bench::measure_copy_gbps(threads);
  std::printf("threads %d | measured f32 FMA peak %.1f GFLOP/s | plain copy of 64 MiB %.1f GB/s\n", threads,
              g_peak_gflops, g_copy_gbps);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
