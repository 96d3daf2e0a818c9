// Standalone GEMM provider benchmark (issue 3). Does NOT depend on the kiln
// library: it measures the machine's f32 FMA peak and row-major C = A*B for
// the candidate providers so kiln can pick one.
//
// One source, one executable per provider, selected at compile time:
//   KILN_BENCH_OPENBLAS  -> OpenBLAS cblas_sgemm   (bench_gemm_openblas)
//   KILN_BENCH_BLIS      -> BLIS cblas_sgemm       (bench_gemm_blis)
//   KILN_BENCH_ONEDNN    -> oneDNN matmul f32/bf16 (bench_gemm_onednn)
// OpenBLAS and BLIS export the same symbols (sgemm_, cblas_sgemm), so they
// must never be linked into the same executable.
//
// Every executable also runs BM_FmaPeak, and each GEMM reports
//   GFLOPS   = 2*M*N*K / real time (in units of 1e9/s)
//   pct_peak = GFLOPS as a percentage of the FMA peak calibrated at start-up.
// All work runs on kThreads = 2 threads.

#include <benchmark/benchmark.h>
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if (defined(KILN_BENCH_OPENBLAS) + defined(KILN_BENCH_BLIS) + defined(KILN_BENCH_ONEDNN)) != 1
#error "define exactly one of KILN_BENCH_OPENBLAS, KILN_BENCH_BLIS, KILN_BENCH_ONEDNN"
#endif

#if defined(KILN_BENCH_OPENBLAS)
#include <cblas.h>  // from .../openblas-pthread/
#elif defined(KILN_BENCH_BLIS)
#include <blis.h>  // from .../blis-openmp/ (also declares cblas_* when CBLAS is enabled)
#elif defined(KILN_BENCH_ONEDNN)
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

constexpr int kThreads = 2;

// AMX as the OS sees it: CPUID.(7,0).EDX bits 22 (amx-bf16), 24 (amx-tile),
// 25 (amx-int8). A hypervisor may hide them even on Sapphire/Emerald Rapids.
std::string amx_cpuid() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return "unknown";
  std::string r;
  if ((d >> 24) & 1) r += "amx-tile ";
  if ((d >> 22) & 1) r += "amx-bf16 ";
  if ((d >> 25) & 1) r += "amx-int8 ";
  return r.empty() ? "none" : r;
}

// ---------------------------------------------------------------------------
// FMA peak: 16 independent zmm FMA chains per thread. With 2 FMA ports and a
// 4-cycle latency, >= 8 independent chains are needed to saturate a core.
// acc = acc * m + a with m slightly below 1 converges to a/(1-m), so values
// stay finite and normal forever.
// ---------------------------------------------------------------------------
constexpr int kChains = 16;
constexpr double kFlopsPerIter = kChains * 16 /*lanes*/ * 2 /*mul+add*/;

__attribute__((noinline)) float fma_chains(std::int64_t iters, float seed) {
  const __m512 m = _mm512_set1_ps(0.999999f);
  const __m512 a = _mm512_set1_ps(1e-6f);
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + static_cast<float>(c));
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  }
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  // (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized via _mm512_undefined_ps.)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total;
}

// Runs `iters` iterations on each of kThreads threads; returns total flops.
double run_fma_peak(std::int64_t iters) {
  float sink = 0.0f;
#pragma omp parallel num_threads(kThreads) reduction(+ : sink)
  { sink += fma_chains(iters, static_cast<float>(omp_get_thread_num())); }
  benchmark::DoNotOptimize(sink);
  return kFlopsPerIter * static_cast<double>(iters) * kThreads;
}

constexpr std::int64_t kPeakIters = 20'000'000;  // ~45 ms per run at ~3.6 GHz

// Peak (flop/s) measured once at start-up, used for the pct_peak counters.
double calibrated_peak() {
  static const double peak = [] {
    run_fma_peak(kPeakIters / 4);  // warm up threads and clocks
    double best = 0.0;
    for (int r = 0; r < 5; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      double flops = run_fma_peak(kPeakIters);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, flops / s);
    }
    return best;
  }();
  return peak;
}

void BM_FmaPeak(benchmark::State& state) {
  double flops = 0.0;
  for (auto _ : state) flops += run_fma_peak(kPeakIters);
  state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["threads"] = kThreads;
}

// ---------------------------------------------------------------------------
// Buffers and correctness spot check.
// ---------------------------------------------------------------------------
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using Buf = std::unique_ptr<T[], FreeDeleter>;

template <class T>
Buf<T> alloc(std::size_t n) {
  std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
  return Buf<T>(static_cast<T*>(std::aligned_alloc(64, bytes)));
}

Buf<float> random_matrix(std::size_t n, unsigned seed) {
  Buf<float> m = alloc<float>(n);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  for (std::size_t i = 0; i < n; ++i) m[i] = d(rng);
  return m;
}

// Compare 64 sampled entries of row-major C (MxN) against a double-precision
// dot product of row-major A (MxK) and B (KxN). rel_tol relative to sum|a*b|.
bool spot_check(const float* A, const float* B, const float* C, int M, int N, int K,
                double rel_tol) {
  std::mt19937 rng(7);
  for (int s = 0; s < 64; ++s) {
    int i = static_cast<int>(rng() % static_cast<unsigned>(M));
    int j = static_cast<int>(rng() % static_cast<unsigned>(N));
    double ref = 0.0, mag = 0.0;
    for (int k = 0; k < K; ++k) {
      double p = static_cast<double>(A[static_cast<std::size_t>(i) * K + k]) *
                 B[static_cast<std::size_t>(k) * N + j];
      ref += p;
      mag += std::fabs(p);
    }
    double got = C[static_cast<std::size_t>(i) * N + j];
    if (std::fabs(got - ref) > rel_tol * mag + 1e-6) {
      std::fprintf(stderr, "spot check failed at (%d,%d): got %g want %g\n", i, j, got, ref);
      return false;
    }
  }
  return true;
}

void set_gemm_counters(benchmark::State& state, double flops_per_iter) {
  const double flops = flops_per_iter * static_cast<double>(state.iterations());
  state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["pct_peak"] =
      benchmark::Counter(flops * 100.0 / calibrated_peak(), benchmark::Counter::kIsRate);
}

// ---------------------------------------------------------------------------
// Providers.
// ---------------------------------------------------------------------------
#if defined(KILN_BENCH_OPENBLAS) || defined(KILN_BENCH_BLIS)

#if defined(KILN_BENCH_OPENBLAS)
constexpr const char* kProvider = "openblas";
std::string g_kernel;
void provider_init() {
  openblas_set_num_threads(kThreads);
  g_kernel = openblas_get_corename();
  std::fprintf(stderr, "OpenBLAS: %s | core %s | threads %d\n", openblas_get_config(),
               g_kernel.c_str(), openblas_get_num_threads());
  if (g_kernel == "Prescott")
    std::fprintf(stderr,
                 "WARNING: OpenBLAS fell back to the generic SSE3 'Prescott' kernels (CPU model "
                 "unknown to this OpenBLAS); set OPENBLAS_CORETYPE=Cooperlake (or SkylakeX).\n");
}
#else
constexpr const char* kProvider = "blis";
std::string g_kernel;
void provider_init() {
  bli_thread_set_num_threads(kThreads);
  const arch_t id = bli_arch_query_id();
  g_kernel = bli_arch_string(id);
  std::fprintf(stderr, "BLIS %s: arch %s | cblas %d | threads %d\n", bli_info_get_version_str(),
               g_kernel.c_str(), static_cast<int>(bli_info_get_enable_cblas()),
               static_cast<int>(bli_thread_get_num_threads()));
  if (id != BLIS_ARCH_SKX && __builtin_cpu_supports("avx512f"))
    std::fprintf(stderr,
                 "WARNING: BLIS chose the '%s' (AVX2) sub-config on an AVX-512 CPU (it could not "
                 "count FMA units from the CPU brand string); set BLIS_ARCH_TYPE=%d for 'skx'.\n",
                 g_kernel.c_str(), static_cast<int>(BLIS_ARCH_SKX));
}
#endif

void BM_Sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::size_t nn = static_cast<std::size_t>(n) * n;
  Buf<float> A = random_matrix(nn, 1), B = random_matrix(nn, 2);
  Buf<float> C = alloc<float>(nn);
  std::memset(C.get(), 0, nn * sizeof(float));
  auto gemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A.get(), n, B.get(), n,
                0.0f, C.get(), n);
  };
  gemm();  // warm-up (thread pool, packing buffers) + correctness
  if (!spot_check(A.get(), B.get(), C.get(), n, n, n, 1e-5)) {
    state.SkipWithError("wrong result");
    return;
  }
  for (auto _ : state) {
    gemm();
    benchmark::ClobberMemory();
  }
  set_gemm_counters(state, 2.0 * n * n * n);
  state.SetLabel(std::string(kProvider) + ":" + g_kernel);
}

void register_gemm() {
  auto* b = benchmark::RegisterBenchmark((std::string("BM_Sgemm_") + kProvider).c_str(), BM_Sgemm);
  b->Arg(1024)->Arg(2048)->Arg(4096)->UseRealTime()->MinTime(1.0)->Unit(benchmark::kMillisecond);
}

#elif defined(KILN_BENCH_ONEDNN)

constexpr const char* kProvider = "onednn";
const char* isa_name(dnnl::cpu_isa isa) {
  using dnnl::cpu_isa;
  switch (isa) {
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

void provider_init() {
  omp_set_num_threads(kThreads);  // oneDNN's OpenMP runtime (libgomp) picks this up
  const dnnl_version_t* v = dnnl_version();
  std::fprintf(stderr, "oneDNN %d.%d.%d, max threads %d, effective cpu isa %s\n", v->major,
               v->minor, v->patch, omp_get_max_threads(), isa_name(dnnl::get_effective_cpu_isa()));
  benchmark::AddCustomContext("onednn_isa", isa_name(dnnl::get_effective_cpu_isa()));
}

// dtype: f32 or bf16 for src/weights; dst is always f32 (accumulation is f32).
// packed_b: let oneDNN choose the weights layout (format_tag::any) and reorder
// B into it once outside the timed loop, as an engine would for constant
// weights. Otherwise B is plain row-major (same contract as cblas_sgemm).
void BM_Matmul(benchmark::State& state, dnnl::memory::data_type dtype, bool packed_b) {
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  const int n = static_cast<int>(state.range(0));
  const memory::dim d = n;
  const std::size_t nn = static_cast<std::size_t>(n) * n;

  engine eng(engine::kind::cpu, 0);
  stream strm(eng);

  Buf<float> A = random_matrix(nn, 1), B = random_matrix(nn, 2);
  Buf<float> C = alloc<float>(nn);
  std::memset(C.get(), 0, nn * sizeof(float));

  // Plain f32 memories wrapping the user buffers.
  memory::desc a_f32({d, d}, dt::f32, tag::ab), b_f32({d, d}, dt::f32, tag::ab);
  memory::desc c_md({d, d}, dt::f32, tag::ab);
  memory a_user(a_f32, eng, A.get()), b_user(b_f32, eng, B.get()), c_mem(c_md, eng, C.get());

  memory::desc a_md({d, d}, dtype, tag::ab);
  memory::desc b_md({d, d}, dtype, packed_b ? tag::any : tag::ab);
  matmul::primitive_desc pd(matmul::desc(a_md, b_md, c_md), eng);
  matmul prim(pd);

  // Convert / pack inputs once, outside the timed loop.
  memory a_mem = a_user, b_mem = b_user;
  if (dtype != dt::f32) {
    a_mem = memory(a_md, eng);
    reorder(a_user, a_mem).execute(strm, a_user, a_mem);
  }
  if (pd.weights_desc() != b_f32) {
    b_mem = memory(pd.weights_desc(), eng);
    reorder(b_user, b_mem).execute(strm, b_user, b_mem);
  }
  strm.wait();

  auto run = [&] {
    prim.execute(strm, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    strm.wait();
  };
  run();  // warm-up + correctness
  // bf16 inputs: 8-bit mantissa, relative error per product ~2^-8.
  const double tol = dtype == dt::f32 ? 1e-5 : 1e-2;
  if (!spot_check(A.get(), B.get(), C.get(), n, n, n, tol)) {
    state.SkipWithError("wrong result");
    return;
  }
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  set_gemm_counters(state, 2.0 * n * n * n);
  state.SetLabel(pd.impl_info_str());
}

void register_gemm() {
  using dt = dnnl::memory::data_type;
  auto reg = [](const char* name, dt dtype, bool packed, std::vector<int> sizes) {
    auto* b = benchmark::RegisterBenchmark(name, BM_Matmul, dtype, packed);
    for (int s : sizes) b->Arg(s);
    b->UseRealTime()->MinTime(1.0)->Unit(benchmark::kMillisecond);
  };
  reg("BM_Matmul_onednn_f32", dt::f32, false, {1024, 2048, 4096});
  reg("BM_Matmul_onednn_f32_packedB", dt::f32, true, {1024, 2048, 4096});
  reg("BM_Matmul_onednn_bf16", dt::bf16, false, {1024, 2048});
  reg("BM_Matmul_onednn_bf16_packedB", dt::bf16, true, {1024, 2048});
}

#endif

}  // namespace

BENCHMARK(BM_FmaPeak)->UseRealTime()->MinTime(0.5)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  // libgomp reads OMP_NUM_THREADS before main, so set the ICV explicitly too
  // (BLIS-openmp and oneDNN both run on libgomp; OpenBLAS here is pthreads).
  omp_set_num_threads(kThreads);
  provider_init();
  std::fprintf(stderr, "calibrated FMA peak: %.1f GFLOP/s on %d threads; AMX in CPUID: %s\n",
               calibrated_peak() / 1e9, kThreads, amx_cpuid().c_str());
  register_gemm();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("provider", kProvider);
  benchmark::AddCustomContext("threads", std::to_string(kThreads));
  benchmark::AddCustomContext("amx_cpuid", amx_cpuid());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
