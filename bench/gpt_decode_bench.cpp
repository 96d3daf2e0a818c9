// GPT inference speed, measured the way llama-bench measures it, for the
// side-by-side run in bench/gpt_decode_vs_llamacpp.sh:
//   pp: a prompt of P tokens through an empty KV cache, logits for the last
//       position only (llama-bench -p P);
//   tg: N tokens decoded one at a time from an empty cache (llama-bench -n N).
// The model comes from a GGUF file (the same file llama.cpp runs), decoded to
// f32, or is a random GPT-2 preset. Prints the median over --reps runs.
//
//   bench_gpt_decode [--gguf FILE | --preset gpt2] [--prompt 512] [--gen 128] [--reps 3] [--threads 2]
//                    [--weights f32|bf16|q8_0] (--bf16 = --weights bf16)
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "kiln/core/parallel.h"
#include "kiln/core/rng.h"
#include "kiln/models/gpt.h"
#include "kiln/models/gpt_gguf.h"
#include "kiln/ops/quantized_weights.h"
#include "kiln/ops/ops.h"

using namespace kiln;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GPT inference benchmark (llama-bench's pp and tg)"};
  std::string gguf, preset = "gpt2";
  std::int64_t prompt = 512, gen_tokens = 128;
  int reps = 3, threads = 2;
  std::string weights = "f32";
  bool bf16 = false, no_team = false;
  app.add_option("--gguf", gguf, "A gpt2 GGUF file (f32, f16, q8_0: decoded to f32)");
  app.add_option("--preset", preset, "Random weights of a preset when no --gguf");
  app.add_option("--prompt", prompt, "pp: prompt tokens");
  app.add_option("--gen", gen_tokens, "tg: decoded tokens");
  app.add_flag("--no-team", no_team, "tg without the persistent thread team (an OpenMP region per op)");
  app.add_option("--reps", reps);
  app.add_option("--threads", threads);
  auto* weights_opt = app.add_option("--weights", weights,
                                     "f32, bf16 (autocast's cached copy) or q8_0 (llama.cpp's int8 blocks, inputs "
                                     "rounded to q8_0 too); f32 accumulation");
  app.add_flag("--bf16", bf16, "Same as --weights bf16")->excludes(weights_opt);
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(threads);
    Generator gen(1);
    std::unique_ptr<models::Gpt> model =
        gguf.empty() ? std::make_unique<models::Gpt>(models::gpt_preset(preset), gen) : models::load_gpt2_gguf(gguf, gen);
    model->eval();
    const auto& c = model->config();
    Generator ids_gen(7);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(std::max(prompt, gen_tokens)));
    for (auto& id : ids) id = static_cast<std::int64_t>(ids_gen.next_below(static_cast<std::uint64_t>(c.vocab_size)));
    if (bf16) weights = "bf16";
    const WeightFormatGuard format(weight_format_from_name(weights));
    std::vector<double> pp, tg;
    for (int r = 0; r < reps + 1; ++r) {  // the first round warms up (primitives, pool) and is not counted
      if (prompt > 0) {
        models::GptKvCache cache = model->make_cache(1);
        const auto t0 = std::chrono::steady_clock::now();
        const Tensor logits = model->decode(Tensor::from_vector(std::vector<std::int64_t>(ids.begin(), ids.begin() + prompt), {1, prompt}), cache);
        (void)logits.to_vector<float>();
        if (r > 0) pp.push_back(static_cast<double>(prompt) / seconds_since(t0));
      }
      if (gen_tokens > 0) {
        models::GptKvCache cache = model->make_cache(1);
        std::optional<ThreadTeamScope> team;  // as kiln generate decodes
        if (!no_team) team.emplace();
        const auto t0 = std::chrono::steady_clock::now();
        for (std::int64_t i = 0; i < gen_tokens; ++i) {
          const Tensor logits = model->decode(Tensor::from_vector(std::vector<std::int64_t>{ids[static_cast<std::size_t>(i)]}, {1, 1}), cache);
          (void)logits.to_vector<float>();  // a real decoder reads the logits every token
        }
        if (r > 0) tg.push_back(static_cast<double>(gen_tokens) / seconds_since(t0));
      }
    }
    std::printf("model %s, %lld parameters, %d threads, %s weights\n", c.str().c_str(),
                static_cast<long long>(model->num_parameters()), threads, weights.c_str());
    if (!pp.empty()) std::printf("pp%lld: %.1f tokens/s (median of %d)\n", static_cast<long long>(prompt), median(pp), reps);
    if (!tg.empty()) std::printf("tg%lld: %.1f tokens/s (median of %d)\n", static_cast<long long>(gen_tokens), median(tg), reps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
