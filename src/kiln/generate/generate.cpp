#include "kiln/generate/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kiln/core/error.h"
#include "kiln/core/parallel.h"

namespace kiln::generate {

namespace {

void check_ids(const std::vector<std::int64_t>& ids, std::int64_t vocab, const char* what) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw Error(std::string("generation: ") + what + " token " + std::to_string(i) + " is id " + std::to_string(ids[i]) +
                  ", outside the vocabulary of " + std::to_string(vocab));
    }
  }
}

void check_prompt(const IncrementalLm& lm, const std::vector<std::int64_t>& prompt) {
  if (prompt.empty()) throw Error("generation: the prompt is empty (give at least one token)");
  if (static_cast<std::int64_t>(prompt.size()) > lm.context()) {
    throw Error("generation: the prompt has " + std::to_string(prompt.size()) +
                " tokens, above the model's context of " + std::to_string(lm.context()));
  }
  check_ids(prompt, lm.vocab_size(), "prompt");
}

// Row r of logits [n, V] on the host, checked for NaN/inf (a broken model
// must not turn into a silent argmax of 0).
std::vector<float> host_row(const Tensor& logits, std::int64_t r, std::int64_t step) {
  const Tensor row = logits.slice(0, r, r + 1).to(DType::f32).to(kCPU);
  std::vector<float> v = row.contiguous().to_vector<float>();
  for (const float x : v) {
    if (!std::isfinite(x)) {
      throw Error("generation: the model produced a non-finite logit at step " + std::to_string(step) +
                  " (broken weights or overflow)");
    }
  }
  return v;
}

bool ends_with(const std::vector<std::int64_t>& seq, const std::vector<std::int64_t>& tail) {
  return !tail.empty() && tail.size() <= seq.size() && std::equal(tail.rbegin(), tail.rend(), seq.rbegin());
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::length: return "length";
    case FinishReason::eos: return "eos";
    case FinishReason::stop_sequence: return "stop";
    case FinishReason::callback: return "callback";
    case FinishReason::context: return "context";
  }
  return "?";
}

void GenerationOptions::validate() const {
  if (max_new_tokens < 0) throw Error("max_new_tokens must be >= 0, got " + std::to_string(max_new_tokens));
  if (!(temperature >= 0.0) || !std::isfinite(temperature)) {
    throw Error("temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  }
  if (top_k < 0) throw Error("top_k must be >= 0 (0 = off), got " + std::to_string(top_k));
  if (!(top_p > 0.0 && top_p <= 1.0)) throw Error("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (!(repetition_penalty > 0.0) || !std::isfinite(repetition_penalty)) {
    throw Error("repetition_penalty must be positive (1 = off), got " + std::to_string(repetition_penalty));
  }
  for (const auto& s : stop_sequences) {
    if (s.empty()) throw Error("a stop sequence is empty");
  }
}

GenerationResult generate(IncrementalLm& lm, const std::vector<std::int64_t>& prompt, const GenerationOptions& o,
                          const TokenCallback& on_token) {
  o.validate();
  check_prompt(lm, prompt);
  if (o.eos_token_id && (*o.eos_token_id < 0 || *o.eos_token_id >= lm.vocab_size())) {
    throw Error("generation: eos token id " + std::to_string(*o.eos_token_id) + " is outside the vocabulary of " +
                std::to_string(lm.vocab_size()));
  }
  for (const auto& s : o.stop_sequences) check_ids(s, lm.vocab_size(), "stop sequence");
  GenerationResult result;
  if (o.max_new_tokens == 0) return result;
  Generator gen(o.seed);
  std::vector<std::int64_t> seen = prompt;  // for the repetition penalty
  Tensor logits = lm.prefill(prompt);
  const ThreadTeamScope team;  // token by token: a persistent team instead of a parallel region per op
  const SamplingOptions sampling{.temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p};
  for (std::int64_t step = 0;; ++step) {
    std::vector<float> row = host_row(logits, 0, step);
    apply_repetition_penalty(row, seen, o.repetition_penalty);
    const std::int64_t token =
        o.temperature > 0.0 ? draw_token(sampling_distribution(row, sampling), gen) : argmax_token(row);
    result.tokens.push_back(token);
    seen.push_back(token);
    if (on_token && !on_token(token)) {
      result.finish = FinishReason::callback;
      break;
    }
    if (o.eos_token_id && token == *o.eos_token_id) {
      result.finish = FinishReason::eos;
      break;
    }
    if (std::any_of(o.stop_sequences.begin(), o.stop_sequences.end(),
                    [&](const auto& s) { return ends_with(result.tokens, s); })) {
      result.finish = FinishReason::stop_sequence;
      break;
    }
    if (static_cast<std::int64_t>(result.tokens.size()) >= o.max_new_tokens) {
      result.finish = FinishReason::length;
      break;
    }
    if (lm.length() >= lm.context()) {
      result.finish = FinishReason::context;  // the last token was chosen but there is no room to feed it
      break;
    }
    logits = lm.step({0}, {token});
  }
  return result;
}

void BeamSearchOptions::validate() const {
  if (num_beams < 1) throw Error("num_beams must be >= 1, got " + std::to_string(num_beams));
  if (max_new_tokens < 1) throw Error("beam search: max_new_tokens must be >= 1, got " + std::to_string(max_new_tokens));
  if (!std::isfinite(length_penalty)) throw Error("length_penalty must be finite");
  if (num_return_sequences < 0 || num_return_sequences > num_beams) {
    throw Error("num_return_sequences must be in [0, num_beams = " + std::to_string(num_beams) + "], got " +
                std::to_string(num_return_sequences));
  }
}

namespace {

struct Beam {
  std::vector<std::int64_t> tokens;
  double sum = 0.0;
};

double length_normalised(double sum, std::size_t length, double penalty) {
  return sum / std::pow(static_cast<double>(length), penalty);
}

// The finished hypotheses, the best `capacity` by score.
class FinishedSet {
 public:
  FinishedSet(std::size_t capacity, double penalty) : capacity_(capacity), penalty_(penalty) {}
  void add(std::vector<std::int64_t> tokens, double sum) {
    const double score = length_normalised(sum, tokens.size(), penalty_);
    if (full() && score <= worst()) return;
    hyps_.push_back({std::move(tokens), sum, score});
    std::sort(hyps_.begin(), hyps_.end(), [](const Hypothesis& a, const Hypothesis& b) { return a.score > b.score; });
    if (hyps_.size() > capacity_) hyps_.pop_back();
  }
  bool full() const { return hyps_.size() >= capacity_; }
  double worst() const { return hyps_.back().score; }
  std::vector<Hypothesis> take() { return std::move(hyps_); }

 private:
  std::size_t capacity_;
  double penalty_;
  std::vector<Hypothesis> hyps_;
};

}  // namespace

std::vector<Hypothesis> beam_search(IncrementalLm& lm, const std::vector<std::int64_t>& prompt,
                                    const BeamSearchOptions& o) {
  o.validate();
  check_prompt(lm, prompt);
  if (o.eos_token_id && (*o.eos_token_id < 0 || *o.eos_token_id >= lm.vocab_size())) {
    throw Error("beam search: eos token id " + std::to_string(*o.eos_token_id) + " is outside the vocabulary of " +
                std::to_string(lm.vocab_size()));
  }
  const auto k = static_cast<std::size_t>(o.num_beams);
  const std::int64_t max_new = std::min<std::int64_t>(o.max_new_tokens, lm.context() - static_cast<std::int64_t>(prompt.size()) + 1);
  FinishedSet finished(k, o.length_penalty);
  std::vector<Beam> beams{Beam{}};
  Tensor logits = lm.prefill(prompt);
  const ThreadTeamScope team;  // token by token: a persistent team instead of a parallel region per op
  for (std::int64_t t = 1; t <= max_new && !beams.empty(); ++t) {
    // Every (beam, token) continuation; eos ones finish, the k best others live on.
    struct Candidate {
      double sum;
      std::size_t beam;
      std::int64_t token;
    };
    std::vector<Candidate> live;
    for (std::size_t b = 0; b < beams.size(); ++b) {
      const std::vector<double> lp = log_probabilities(host_row(logits, static_cast<std::int64_t>(b), t - 1));
      for (std::size_t tok = 0; tok < lp.size(); ++tok) {
        const double sum = beams[b].sum + lp[tok];
        if (o.eos_token_id && static_cast<std::int64_t>(tok) == *o.eos_token_id) {
          std::vector<std::int64_t> done = beams[b].tokens;
          done.push_back(static_cast<std::int64_t>(tok));
          finished.add(std::move(done), sum);
        } else {
          live.push_back({sum, b, static_cast<std::int64_t>(tok)});
        }
      }
    }
    const std::size_t keep = std::min(k, live.size());
    std::partial_sort(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(keep), live.end(),
                      [](const Candidate& a, const Candidate& b) {
                        return a.sum > b.sum || (a.sum == b.sum && (a.beam < b.beam || (a.beam == b.beam && a.token < b.token)));
                      });
    live.resize(keep);
    std::vector<Beam> next;
    for (const Candidate& c : live) {
      Beam nb{beams[c.beam].tokens, c.sum};
      nb.tokens.push_back(c.token);
      next.push_back(std::move(nb));
    }
    if (t == max_new) {  // out of length: the live beams finish as they are
      for (Beam& b : next) finished.add(std::move(b.tokens), b.sum);
      break;
    }
    if (finished.full()) {
      if (o.early_stopping) break;
      // The best a live beam can still reach: its sum only falls with more
      // tokens, and its length ends in [t + 1, max_new].
      double best = -std::numeric_limits<double>::infinity();
      for (const Beam& b : next) {
        const auto len = static_cast<std::size_t>(o.length_penalty > 0.0 ? max_new : t + 1);
        best = std::max(best, length_normalised(b.sum, len, o.length_penalty));
      }
      if (best <= finished.worst()) break;
    }
    beams = std::move(next);
    std::vector<std::int64_t> rows, tokens;
    for (const Candidate& c : live) {
      rows.push_back(static_cast<std::int64_t>(c.beam));
      tokens.push_back(c.token);
    }
    logits = lm.step(rows, tokens);
  }
  std::vector<Hypothesis> out = finished.take();
  const auto n = static_cast<std::size_t>(o.num_return_sequences > 0 ? o.num_return_sequences : o.num_beams);
  if (out.size() > n) out.resize(n);
  return out;
}

}  // namespace kiln::generate
