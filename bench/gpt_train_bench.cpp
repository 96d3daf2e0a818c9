// GPT training speed: the model of a preset (GPT-2 124M by default, random
// weights) trained with kiln's LM step (train/lm_trainer.h: AdamW, clipping)
// on random tokens, as ../shared/peers/torch_gpt2_train.py does for PyTorch.
// Prints the measured machine peak, the median step time, tokens/s, MFU, and
// what a step after the first allocated from the system and page-faulted.
//
//   bench_gpt_train [--preset gpt2] [--batch 4] [--seq 64] [--steps 6] [--threads 2] [--bf16]
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kiln/core/device.h"
#include "kiln/core/machine_peak.h"
#include "kiln/core/parallel.h"
#include "kiln/models/gpt.h"
#include "kiln/ops/ops.h"
#include "kiln/train/lm_trainer.h"

using namespace kiln;

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt + u.ru_majflt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPT training step benchmark"};
  std::string preset = "gpt2";
  std::int64_t batch = 4, seq = 64, steps = 6;
  int threads = 2;
  bool bf16 = false;
  app.add_option("--preset", preset);
  app.add_option("--batch", batch);
  app.add_option("--seq", seq);
  app.add_option("--steps", steps);
  app.add_option("--threads", threads);
  app.add_flag("--bf16", bf16, "bf16 autocast (f32 master weights)");
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(threads);
    const MachinePeak peak = measure_machine_peak(threads);
    std::printf("peak: f32 FMA %.0f GFLOP/s, bf16 dot %.0f GFLOP/s (%d threads)\n", peak.f32_gflops,
                peak.bf16_gflops, threads);
    Generator gen(1337);
    models::Gpt model(models::gpt_preset(preset), gen);
    const auto& cfg = model.config();
    train::LmTrainer trainer(model, {.lr = 1e-4, .total_steps = steps + 1, .grad_clip = 1.0,
                                     .precision = bf16 ? DType::bf16 : DType::f32});
    Generator data_gen(7);
    auto next = [&] {
      const Tensor tok = mul(rand({batch, seq + 1}, data_gen, DType::f64), static_cast<double>(cfg.vocab_size) - 0.5);
      const Tensor ids = cast(tok, DType::i64);
      return train::Batch{ids.slice(1, 0, seq).contiguous(), ids.slice(1, 1, seq + 1).contiguous(), Tensor()};
    };
    std::vector<double> ms;
    Backend& cpu = backend_for(DeviceKind::cpu);
    long faults = 0;
    std::uint64_t allocs = 0;
    for (std::int64_t s = 0; s < steps; ++s) {
      const train::Batch b = next();  // outside the timed region, as the peers do
      const long f0 = minor_faults();
      const std::uint64_t a0 = cpu.system_allocations();
      const auto t0 = std::chrono::steady_clock::now();
      const train::LmStepResult r = trainer.step([&] { return b; });
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("step %lld: loss %.4f, norm %.3f, %.1f ms\n", static_cast<long long>(s), r.loss, r.grad_norm, dt);
      if (s > 0) ms.push_back(dt);
      // Step 0 creates the gradients and AdamW's moments, step 1 still meets
      // first-time sizes; from step 2 on a step should take nothing new.
      if (s > 1) {
        faults = std::max(faults, minor_faults() - f0);
        allocs = std::max(allocs, cpu.system_allocations() - a0);
      }
    }
    if (ms.empty()) throw Error("--steps must be at least 2 (the first step is not timed)");
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    const double tok_s = static_cast<double>(batch * seq) / (median / 1e3);
    const double flops = cfg.train_flops_per_token(seq) * tok_s / 1e9;
    const double mfu = flops / (bf16 ? peak.bf16_gflops : peak.f32_gflops);
    std::printf("model %s (%lld parameters), B=%lld T=%lld, %s\n", cfg.str().c_str(),
                static_cast<long long>(cfg.num_parameters()), static_cast<long long>(batch),
                static_cast<long long>(seq), bf16 ? "bf16 autocast" : "f32");
    std::printf("from step 2 on: at most %llu system allocations and %ld page faults per step\n",
                static_cast<unsigned long long>(allocs), faults);
    std::printf("tokens_per_s=%.1f step_ms=%.1f mfu=%.3f model_gflops=%.1f\n", tok_s, median, mfu, flops);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
