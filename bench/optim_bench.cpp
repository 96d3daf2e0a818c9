// Optimizer steps on one 25M-element f32 parameter (a ~100 MB model's worth)
// against the machine's measured copy bandwidth. An update is memory-bound:
// the fused Adam step reads p, g, m, v and writes p, m, v (28 bytes an
// element), so its GB/s next to copy_GB/s says how close it runs to the limit.
// BM_AdamComposed25M is the same rule written with separate ops (the
// pre-fusion implementation: ~14 passes and 8 temporaries) for comparison.
// Run: build/bench/bench_optim --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Timings are only meaningful on a quiet machine (nothing compiling).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>

#include "kiln/core/parallel.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/optim.h"
#include "machine_peak.h"

namespace {

double g_copy_gbps = 0;
constexpr std::int64_t kElems = 25'000'000;

void report_bandwidth(benchmark::State& state, double bytes_per_iter) {
  state.counters["GB/s"] = benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy_GB/s"] = g_copy_gbps;
}

kiln::Tensor parameter_with_grad(std::uint64_t seed) {
  kiln::Generator gen(seed);
  kiln::Tensor p = kiln::randn({kElems}, gen);
  p.set_requires_grad(true);
  p.set_grad(kiln::mul(kiln::randn({kElems}, gen), 1e-3));
  return p;
}

void BM_AdamStep25M(benchmark::State& state) {
  const kiln::Tensor p = parameter_with_grad(1);
  kiln::optim::Adam opt({p}, {.lr = 1e-4, .weight_decay = 0.01});
  opt.step();  // creates the moments outside the timed loop
  for (auto _ : state) opt.step();
  report_bandwidth(state, 28.0 * kElems);
}

void BM_AdamWStep25M(benchmark::State& state) {
  const kiln::Tensor p = parameter_with_grad(2);
  kiln::optim::AdamW opt({p}, {.lr = 1e-4});
  opt.step();
  for (auto _ : state) opt.step();
  report_bandwidth(state, 28.0 * kElems);
}

void BM_SgdMomentumStep25M(benchmark::State& state) {
  const kiln::Tensor p = parameter_with_grad(3);
  kiln::optim::SGD opt({p}, {.lr = 1e-3, .momentum = 0.9});
  opt.step();
  for (auto _ : state) opt.step();
  report_bandwidth(state, 20.0 * kElems);  // reads p, g, buf; writes p, buf
}

// Adam as composed ops, term for term as before fusion (adam.cpp at 2dd8a16).
void BM_AdamComposed25M(benchmark::State& state) {
  kiln::Tensor p = parameter_with_grad(4);
  kiln::Tensor m = kiln::Tensor::zeros({kElems}), v = kiln::Tensor::zeros({kElems});
  const double b1 = 0.9, b2 = 0.999, lr = 1e-4, wd = 0.01, eps = 1e-8;
  kiln::NoGradGuard no_grad;
  std::int64_t t = 0;
  for (auto _ : state) {
    ++t;
    const kiln::Tensor g = kiln::add(p.grad(), kiln::mul(p, wd));
    kiln::mul_(m, b1);
    kiln::add_scaled_(m, g, 1.0 - b1);
    kiln::mul_(v, b2);
    kiln::add_scaled_(v, kiln::mul(g, g), 1.0 - b2);
    const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t));
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, static_cast<double>(t)));
    const kiln::Tensor denom = kiln::add(kiln::div(kiln::sqrt(v), bc2_sqrt), eps);
    kiln::add_scaled_(p, kiln::div(m, denom), -lr / bc1);
  }
  report_bandwidth(state, 28.0 * kElems);  // the same useful traffic, for comparison
}

void BM_ClipGradNorm25M(benchmark::State& state) {
  const kiln::Tensor p = parameter_with_grad(5);
  for (auto _ : state) benchmark::DoNotOptimize(kiln::optim::clip_grad_norm_({p}, 1e9));  // reads g once
  report_bandwidth(state, 4.0 * kElems);
}

}  // namespace

BENCHMARK(BM_AdamStep25M)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_AdamWStep25M)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_SgdMomentumStep25M)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_AdamComposed25M)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_ClipGradNorm25M)->UseRealTime()->MinTime(0.5);

int main(int argc, char** argv) {
  const int threads = kiln::num_threads();
  g_copy_gbps = kiln::bench::measure_copy_gbps(threads);
  std::printf("threads %d | plain copy of 64 MiB %.1f GB/s\n", threads, g_copy_gbps);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
