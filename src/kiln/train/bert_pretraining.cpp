#include "kiln/train/bert_pretraining.h"

#include <algorithm>
#include <string>

#include "kiln/ops/ops.h"

namespace kiln::train {

namespace {

std::vector<std::int64_t> concat(const std::vector<std::vector<std::int64_t>>& sentences, std::size_t from,
                                 std::size_t to) {
  std::vector<std::int64_t> out;
  for (std::size_t i = from; i < to && i < sentences.size(); ++i) out.insert(out.end(), sentences[i].begin(), sentences[i].end());
  return out;
}

}  // namespace

BertPair make_pair(const std::vector<std::vector<std::vector<std::int64_t>>>& documents, std::size_t doc,
                   std::size_t start, std::int64_t max_len, const BertSpecialIds& special, Generator& gen) {
  if (max_len < 5) throw Error("BERT pairs: max_len must be at least 5 ([CLS] a [SEP] b [SEP]), got " + std::to_string(max_len));
  if (doc >= documents.size()) {
    throw Error("BERT pairs: document " + std::to_string(doc) + " of " + std::to_string(documents.size()));
  }
  const auto& sentences = documents[doc];
  if (start >= sentences.size()) throw Error("BERT pairs: sentence " + std::to_string(start) + " of document " + std::to_string(doc));
  // A: at least one sentence, up to half of what remains (at least one left for B when possible).
  const std::size_t remaining = sentences.size() - start;
  const std::size_t a_count = remaining <= 1 ? 1 : 1 + gen.next_below(std::max<std::size_t>(1, remaining / 2));
  std::vector<std::int64_t> a = concat(sentences, start, start + a_count);
  std::vector<std::int64_t> b;
  BertPair p;
  const bool can_follow = start + a_count < sentences.size();
  const bool random_next = documents.size() > 1 && (!can_follow || gen.next_below(2) == 1);
  if (random_next) {
    std::size_t other = gen.next_below(documents.size() - 1);
    if (other >= doc) ++other;  // any document but this one
    const auto& os = documents[other];
    const std::size_t s = os.empty() ? 0 : gen.next_below(os.size());
    b = concat(os, s, os.size());
    p.is_random_next = 1;
  } else {
    b = concat(sentences, start + a_count, sentences.size());
  }
  // Trim the longer side (from its end) until the pair fits.
  const auto budget = static_cast<std::size_t>(max_len - 3);
  while (a.size() + b.size() > budget) (a.size() >= b.size() ? a : b).pop_back();
  p.ids.push_back(special.cls);
  p.ids.insert(p.ids.end(), a.begin(), a.end());
  p.ids.push_back(special.sep);
  p.token_types.assign(p.ids.size(), 0);
  p.ids.insert(p.ids.end(), b.begin(), b.end());
  p.ids.push_back(special.sep);
  p.token_types.resize(p.ids.size(), 1);
  return p;
}

MaskedBatch mask_batch(const std::vector<BertPair>& pairs, std::int64_t vocab_size, std::int64_t first_normal_id,
                       const BertSpecialIds& special, Generator& gen, double mask_prob) {
  if (pairs.empty()) throw Error("BERT masking: no pairs");
  if (!(mask_prob > 0.0 && mask_prob < 1.0)) throw Error("BERT masking: mask_prob must be in (0, 1), got " + std::to_string(mask_prob));
  if (first_normal_id < 0 || first_normal_id >= vocab_size) {
    throw Error("BERT masking: first_normal_id " + std::to_string(first_normal_id) + " is outside the vocabulary of " +
                std::to_string(vocab_size));
  }
  const auto B = static_cast<std::int64_t>(pairs.size());
  std::int64_t T = 0;
  for (const auto& p : pairs) T = std::max<std::int64_t>(T, static_cast<std::int64_t>(p.ids.size()));
  std::vector<std::int64_t> ids(static_cast<std::size_t>(B * T), special.pad), types(ids.size(), 0), attn(ids.size(), 0),
      labels(ids.size(), -100), nsp;
  const auto is_special = [&](std::int64_t id) { return id == special.cls || id == special.sep || id == special.pad || id == special.mask; };
  for (std::int64_t r = 0; r < B; ++r) {
    const BertPair& p = pairs[static_cast<std::size_t>(r)];
    std::vector<std::size_t> candidates;
    for (std::size_t t = 0; t < p.ids.size(); ++t) {
      const std::size_t i = static_cast<std::size_t>(r * T) + t;
      ids[i] = p.ids[t];
      types[i] = p.token_types[t];
      attn[i] = 1;
      if (!is_special(p.ids[t])) candidates.push_back(i);
    }
    nsp.push_back(p.is_random_next);
    if (candidates.empty()) continue;
    // Choose round(mask_prob · n) positions (at least one) without replacement.
    const auto n = std::max<std::size_t>(1, static_cast<std::size_t>(mask_prob * static_cast<double>(candidates.size()) + 0.5));
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t j = k + gen.next_below(candidates.size() - k);
      std::swap(candidates[k], candidates[j]);
      const std::size_t i = candidates[k];
      labels[i] = ids[i];
      const double u = gen.next_double();
      if (u < 0.8) {
        ids[i] = special.mask;
      } else if (u < 0.9) {
        ids[i] = first_normal_id + static_cast<std::int64_t>(gen.next_below(static_cast<std::uint64_t>(vocab_size - first_normal_id)));
      }  // else: unchanged
    }
  }
  return {Tensor::from_vector(ids, {B, T}), Tensor::from_vector(types, {B, T}), Tensor::from_vector(attn, {B, T}),
          Tensor::from_vector(labels, {B, T}), Tensor::from_vector(nsp, {B})};
}

BertLoss bert_pretraining_loss(models::Bert& model, const MaskedBatch& batch) {
  const models::BertOutputs out = model.encode(batch.ids, batch.token_types, batch.attention_mask);
  // Only the labelled positions (about 15 %) go through the vocabulary-wide
  // MLM head: the mean over them is the same loss as Hugging Face's over
  // [B, T, V] logits with -100 ignored, at a seventh of the head's cost.
  const std::vector<std::int64_t> labels = batch.mlm_labels.to_vector<std::int64_t>();
  std::vector<std::int64_t> rows, targets;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == -100) continue;
    rows.push_back(static_cast<std::int64_t>(i));
    targets.push_back(labels[i]);
  }
  if (rows.empty()) throw Error("BERT pretraining loss: the batch has no masked position (mlm_labels are all -100)");
  const std::int64_t H = out.hidden.size(2), n = static_cast<std::int64_t>(rows.size());
  const Tensor picked =
      index_select(out.hidden.reshape({out.hidden.size(0) * out.hidden.size(1), H}), 0, Tensor::from_vector(rows, {n}));
  BertLoss loss;
  loss.mlm_logits = model.mlm_logits(picked);
  loss.mlm_targets = Tensor::from_vector(targets, {n});
  loss.mlm = cross_entropy(loss.mlm_logits, loss.mlm_targets);
  loss.nsp_logits = model.nsp_logits(out.pooled);
  loss.nsp = cross_entropy(loss.nsp_logits, batch.nsp_labels);
  loss.total = add(loss.mlm, loss.nsp);
  return loss;
}

}  // namespace kiln::train
