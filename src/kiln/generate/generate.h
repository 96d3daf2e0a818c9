#pragma once
// Text generation over any IncrementalLm: greedy or sampled decoding with
// streaming, and beam search. Token ids in, token ids out; the command line
// (cli/generate_command.cpp) adds the tokenizer and stop strings.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/generate/language_model.h"
#include "kiln/generate/logits_processing.h"

namespace kiln::generate {

struct GenerationOptions {
  std::int64_t max_new_tokens = 64;
  /// 0 = greedy (argmax); > 0 samples at this temperature (llama.cpp's convention).
  double temperature = 0.0;
  std::int64_t top_k = 0;          ///< sampling only; 0 = off
  double top_p = 1.0;              ///< sampling only; 1 = off
  double repetition_penalty = 1.0; ///< 1 = off; applied over prompt and generated tokens
  std::uint64_t seed = 0;          ///< sampling: the same seed gives the same tokens
  std::optional<std::int64_t> eos_token_id = std::nullopt;  ///< stop after producing it (it is returned)
  /// Stop as soon as the generated tokens end with one of these sequences
  /// (they are returned; text-level stop strings are the caller's, via on_token).
  std::vector<std::vector<std::int64_t>> stop_sequences = {};

  /// Throws naming the first bad value.
  void validate() const;
};

enum class FinishReason { length, eos, stop_sequence, callback, context };
const char* finish_reason_name(FinishReason r);

struct GenerationResult {
  std::vector<std::int64_t> tokens;  ///< generated tokens only (not the prompt)
  FinishReason finish = FinishReason::length;
};

/// Called with each token as soon as it is chosen; return false to stop.
using TokenCallback = std::function<bool(std::int64_t token)>;

/// Greedy or sampled decoding of up to max_new_tokens after `prompt`.
/// Stops early at eos, a stop sequence, the callback's request, or the model's
/// context (no sliding window: the cache would have to be recomputed).
/// Refuses an empty prompt, one longer than the context, and ids outside the
/// vocabulary, naming the value.
GenerationResult generate(IncrementalLm& lm, const std::vector<std::int64_t>& prompt, const GenerationOptions& options,
                          const TokenCallback& on_token = {});

struct BeamSearchOptions {
  std::int64_t num_beams = 4;
  std::int64_t max_new_tokens = 32;
  /// score = Σ log p / (generated length)^length_penalty; > 0 favours longer
  /// sequences, < 0 shorter (Hugging Face's convention, length without the prompt).
  double length_penalty = 1.0;
  /// true: stop once num_beams hypotheses have finished. false: go on until no
  /// live beam can still beat the worst kept hypothesis (an exact bound, so the
  /// result is the best the beam could reach).
  bool early_stopping = false;
  std::optional<std::int64_t> eos_token_id = std::nullopt;
  std::int64_t num_return_sequences = 0;  ///< 0 = num_beams

  void validate() const;
};

struct Hypothesis {
  std::vector<std::int64_t> tokens;  ///< generated tokens (ending with eos when it finished on eos)
  double sum_logprob = 0.0;
  double score = 0.0;                ///< sum_logprob / length^length_penalty
};

/// Beam search: keeps the num_beams best partial sequences by summed
/// log-probability; a sequence finishes on eos or at max_new_tokens (or at
/// the context). Returns finished hypotheses, best score first. With
/// num_beams = 1 and no eos it is greedy decoding.
std::vector<Hypothesis> beam_search(IncrementalLm& lm, const std::vector<std::int64_t>& prompt,
                                    const BeamSearchOptions& options);

}  // namespace kiln::generate
