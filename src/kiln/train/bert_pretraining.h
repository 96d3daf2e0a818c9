#pragma once
// BERT's pretraining inputs and loss (Devlin et al. 2019, §3.1 and A.1):
//   - next-sentence pairs: [CLS] A [SEP] B [SEP], where B follows A in the same
//     document half of the time (label 0 = is-next, as Hugging Face) and is a
//     segment of another document otherwise (label 1), trimmed to the length;
//   - masked LM: 15 % of the non-special positions are chosen; of those 80 %
//     become [MASK], 10 % a random token, 10 % stay; labels hold the original
//     id there and -100 (ignored) elsewhere.
// Both draw only from the given Generator, so a seed reproduces the data.
#include <cstdint>
#include <vector>

#include "kiln/core/rng.h"
#include "kiln/core/tensor.h"
#include "kiln/models/bert.h"

namespace kiln::train {

struct BertSpecialIds {
  std::int64_t cls = 0, sep = 0, pad = 0, mask = 0;
};

/// One example before masking.
struct BertPair {
  std::vector<std::int64_t> ids;          ///< [CLS] A [SEP] B [SEP]
  std::vector<std::int64_t> token_types;  ///< 0 over [CLS] A [SEP], 1 over B [SEP]
  std::int64_t is_random_next = 0;        ///< NSP label: 0 B follows A, 1 B is random
};

/// A pair from `documents` (each a list of sentences, each a list of ids):
/// A = consecutive sentences of document `doc` from sentence `start`, B the
/// sentences after them or (with probability 1/2, or when nothing follows)
/// sentences of another document. Trimmed, longer side first, so the pair fits
/// max_len including its 3 special tokens. Throws when max_len < 5 or a
/// document index is out of range.
BertPair make_pair(const std::vector<std::vector<std::vector<std::int64_t>>>& documents, std::size_t doc,
                   std::size_t start, std::int64_t max_len, const BertSpecialIds& special, Generator& gen);

struct MaskedBatch {
  Tensor ids, token_types, attention_mask;  ///< i64 [B, T], right-padded with special.pad
  Tensor mlm_labels;                        ///< i64 [B, T]: the original id where masked, else -100
  Tensor nsp_labels;                        ///< i64 [B]
};

/// Pads `pairs` to their longest and applies the 80/10/10 masking to
/// mask_prob of each row's non-special positions (at least one per row).
/// Random replacement ids are drawn from [first_normal_id, vocab_size).
MaskedBatch mask_batch(const std::vector<BertPair>& pairs, std::int64_t vocab_size, std::int64_t first_normal_id,
                       const BertSpecialIds& special, Generator& gen, double mask_prob = 0.15);

/// MLM cross-entropy (over labelled positions) + NSP cross-entropy, and each
/// part; with the logits behind them for accuracy figures.
struct BertLoss {
  Tensor total, mlm, nsp;
  Tensor mlm_logits;   ///< [masked positions, V]
  Tensor mlm_targets;  ///< i64 [masked positions]: the original ids
  Tensor nsp_logits;   ///< [B, 2]
};
BertLoss bert_pretraining_loss(models::Bert& model, const MaskedBatch& batch);

}  // namespace kiln::train
