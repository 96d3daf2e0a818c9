#pragma once
// `kiln train CONFIG` for task = "lm": pretrains a language model — a GPT
// (model.type = "gpt", the default) or an LSTM LM (model.type = "lstm") — on a
// token data set made by `kiln data prepare` (examples/gpt_fortunes.toml,
// examples/gpt_poems_zh.toml, examples/lstm_fortunes.toml). The final report
// gives the validation perplexity over every validation window beside a
// unigram and an interpolated Kneser-Ney trigram model scored on the same tokens.
//
// The run writes into its output directory:
//   checkpoint.safetensors  model, AdamW moments, schedule, data position (resume with --resume)
//   model.safetensors       the final weights
//   hf/                     a GPT's weights and tokenizer in Hugging Face's layout (kiln generate, transformers)
//   log.jsonl               one line per logged step and per evaluation
//   samples.txt             greedy continuations of the config's prompts (KV cache / LSTM state)
// and prints a progress line with loss, learning rate, gradient norm, tokens/s
// and MFU (model FLOPs utilisation against the FMA peak measured at start-up).
#include "kiln/config/config.h"
#include "kiln/train/experiment.h"

namespace kiln::train {

RunResult run_lm_experiment(const config::Document& config, const RunOverrides& overrides);
/// `kiln eval CONFIG` for task "lm": the run's model.safetensors on every
/// validation window, beside the unigram and Kneser-Ney trigram baselines.
RunResult evaluate_lm_experiment(const config::Document& config, const RunOverrides& overrides);

}  // namespace kiln::train
