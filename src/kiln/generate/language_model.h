#pragma once
// What generation needs from a language model: feed a prompt, then one token
// per sequence at a time, and read the next-token logits. GPT implements it
// with its KV cache (gpt_lm.h); any causal model with incremental state (an
// LSTM, an n-gram table) can plug in without the decoding code knowing.
#include <cstdint>
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::generate {

class IncrementalLm {
 public:
  virtual ~IncrementalLm() = default;
  virtual std::int64_t vocab_size() const = 0;
  /// The longest sequence (prompt + generated) the model can take.
  virtual std::int64_t context() const = 0;
  /// Resets the state to one sequence holding `prompt` (non-empty) and
  /// returns the logits after its last token, [1, V].
  virtual Tensor prefill(const std::vector<std::int64_t>& prompt) = 0;
  /// Advances the sequences by one token: new sequence i continues current
  /// sequence from_rows[i] with tokens[i] (a beam may be continued several
  /// times or dropped). Returns the next-token logits, [n, V].
  virtual Tensor step(const std::vector<std::int64_t>& from_rows, const std::vector<std::int64_t>& tokens) = 0;
  /// Positions each sequence holds (prompt + tokens stepped).
  virtual std::int64_t length() const = 0;
};

}  // namespace kiln::generate
