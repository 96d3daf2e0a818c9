#pragma once
// `kiln train CONFIG` for task = "bert": pretrains a BERT with masked-language
// modelling and next-sentence prediction (examples/bert_fortunes.toml) on
// Debian's English fortunes. Within every fortune file, entry i is held out
// for validation when i % 5 == 4 — the same entries the fortune-category task
// keeps for its test set, so a model pretrained here and fine-tuned there has
// never seen a test text. A WordPiece vocabulary is trained on the training
// entries (data.vocab_size) unless data.vocab names a vocab.txt.
//
// The run writes into its output directory:
//   vocab.txt               the WordPiece vocabulary (reused on --resume)
//   checkpoint.safetensors  model, AdamW moments, schedule, step (resume with --resume)
//   hf/                     config.json, model.safetensors, vocab.txt: Hugging Face's
//                           BertForPreTraining layout, which fine-tuning loads (model.pretrained)
//   log.jsonl               one line per logged step and per evaluation
// and reports the validation MLM loss and accuracy and the NSP accuracy on
// fixed held-out batches.
#include "kiln/config/config.h"
#include "kiln/train/experiment.h"

namespace kiln::train {

RunResult run_bert_experiment(const config::Document& config, const RunOverrides& overrides);
/// `kiln eval CONFIG` for task "bert": the run's hf/ model on the same held-out
/// batches the run's own evaluations used.
RunResult evaluate_bert_experiment(const config::Document& config, const RunOverrides& overrides);

}  // namespace kiln::train
