#include "kiln/train/bert_experiment.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "kiln/core/parallel.h"
#include "kiln/io/fortunes.h"
#include "kiln/models/bert_hf.h"
#include "kiln/ops/autocast.h"
#include "kiln/ops/ops.h"
#include "kiln/text/wordpiece_trainer.h"
#include "kiln/train/bert_corpus.h"
#include "kiln/train/checkpoint.h"
#include "kiln/train/interrupt.h"
#include "kiln/train/lm_train_config.h"
#include "kiln/train/lm_trainer.h"

namespace kiln::train {

namespace {

namespace fs = std::filesystem;

struct BertRun {
  std::string name;
  fs::path output_dir, fortunes_dir, vocab_file;
  std::int64_t vocab_size = 8000, min_frequency = 2;
  std::uint64_t seed = 0;
  models::BertConfig model;
  LmTrainOptions train;
  std::int64_t batch_size = 32, seq_len = 128;
  std::int64_t eval_every = 250, eval_batches = 20, log_every = 25, checkpoint_every = 0;
};

BertRun read_run(const config::Document& doc, const RunOverrides& ov) {
  const config::Node root = doc.root();
  root.allow_only({"name", "task", "output_dir", "seed", "threads", "data", "model", "train"});
  BertRun r;
  r.name = root.get_string("name", "bert");
  if (const auto t = root.find("threads"); t && t->as_int() > 0) set_num_threads(static_cast<int>(t->as_int()));
  r.seed = ov.seed.value_or(static_cast<std::uint64_t>(root.get_int("seed", 42)));

  const config::Node data = root.at("data");
  data.allow_only({"source", "path", "vocab_size", "min_frequency", "vocab"});
  if (const std::string source = data.get_string("source", "fortunes"); source != "fortunes") {
    data.at("source").fail("unknown source '" + source + "' (available: fortunes)");
  }
  r.fortunes_dir = ov.data_path.value_or(data.get_string("path", io::kFortunesDir.string()));
  r.vocab_size = data.get_int("vocab_size", r.vocab_size);
  if (r.vocab_size < 6) data.at("vocab_size").fail("must be at least 6 (5 special tokens and one more)");
  r.min_frequency = data.get_int("min_frequency", r.min_frequency);
  if (data.has("vocab")) r.vocab_file = data.at("vocab").as_string();

  const config::Node m = root.at("model");
  m.allow_only({"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size", "dropout"});
  r.model.hidden_size = m.get_int("hidden_size", 256);
  r.model.num_hidden_layers = m.get_int("num_hidden_layers", 4);
  r.model.num_attention_heads = m.get_int("num_attention_heads", 4);
  r.model.intermediate_size = m.get_int("intermediate_size", 4 * r.model.hidden_size);
  r.model.max_position_embeddings = m.get_int("max_position_embeddings", 128);
  r.model.type_vocab_size = m.get_int("type_vocab_size", 2);
  r.model.hidden_dropout_prob = m.get_double("dropout", 0.1);
  r.model.attention_probs_dropout_prob = 0.0;  // the fused attention has no dropout (models/bert.h)

  const std::optional<config::Node> t = root.find("train");
  if (t) {
    t->allow_only({"batch_size", "seq_len", "steps", "grad_accum", "lr", "min_lr_factor", "warmup_steps",
                   "weight_decay", "beta1", "beta2", "grad_clip", "eval_every", "eval_batches", "log_every",
                   "checkpoint_every", "precision"});
  }
  const auto ti = [&](const char* k, std::int64_t d) { return t ? t->get_int(k, d) : d; };
  // BERT's recipe: Adam β2 0.999, weight decay 0.01, linear warmup (then cosine here).
  LmTrainOptions defaults;
  defaults.lr = 1e-4;
  defaults.total_steps = 1000;
  defaults.weight_decay = 0.01;
  defaults.beta2 = 0.999;
  defaults.min_lr_factor = 0.0;
  r.train = read_lm_train_options(t, defaults, ov.epochs);  // --epochs N means N steps here
  r.batch_size = ti("batch_size", r.batch_size);
  r.seq_len = ti("seq_len", std::min<std::int64_t>(128, r.model.max_position_embeddings));
  r.eval_every = ti("eval_every", r.eval_every);
  r.eval_batches = ti("eval_batches", r.eval_batches);
  r.log_every = ov.log_every > 0 ? ov.log_every : ti("log_every", r.log_every);
  r.checkpoint_every = ov.checkpoint_every_steps >= 0 ? ov.checkpoint_every_steps : ti("checkpoint_every", 0);
  if (r.batch_size < 1) t->at("batch_size").fail("must be >= 1");
  if (r.seq_len < 5) t->at("seq_len").fail("must be >= 5 ([CLS] a [SEP] b [SEP])");
  if (r.seq_len > r.model.max_position_embeddings) {
    t->at("seq_len").fail("is " + std::to_string(r.seq_len) + ", above the model's " +
                          std::to_string(r.model.max_position_embeddings) + " positions (model.max_position_embeddings)");
  }
  if (r.eval_every < 1 || r.eval_batches < 1 || r.log_every < 1) {
    throw Error(root.file() + ": train.eval_every, eval_batches and log_every must be >= 1");
  }
  r.output_dir = ov.output_dir.value_or(root.get_string("output_dir", "runs/" + r.name));
  std::error_code ec;
  fs::create_directories(r.output_dir, ec);
  if (ec) throw Error("output directory '" + r.output_dir.string() + "': cannot create it: " + ec.message());
  return r;
}

// Training and validation texts: every fortune file's entries, entry i held
// out when i % 5 == 4 (the fortune-category task's test rule).
void read_texts(const fs::path& dir, std::vector<std::string>& train, std::vector<std::string>& val) {
  for (const fs::path& file : io::fortune_files(dir)) {
    for (const io::Fortune& f : io::read_fortunes(file)) (f.index % 5 == 4 ? val : train).push_back(f.text);
  }
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct BertEval {
  double mlm_loss = 0.0, mlm_accuracy = 0.0, nsp_loss = 0.0, nsp_accuracy = 0.0;
};

// The same held-out batches every time: their masks and pairs come from a
// generator seeded afresh.
BertEval evaluate(models::Bert& model, const BertCorpus& val, const BertRun& run) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  Generator gen(run.seed ^ 0x5eed'e7a1ULL);
  double mlm_sum = 0.0, mlm_n = 0.0, mlm_hits = 0.0, nsp_sum = 0.0, nsp_n = 0.0, nsp_hits = 0.0;
  for (std::int64_t i = 0; i < run.eval_batches; ++i) {
    const MaskedBatch batch = val.sample(run.batch_size, run.seq_len, gen);
    const AutocastGuard autocast(run.train.precision);
    const BertLoss loss = bert_pretraining_loss(model, batch);
    const auto masked = static_cast<double>(loss.mlm_targets.numel());
    const auto rows = static_cast<double>(batch.nsp_labels.numel());
    mlm_sum += loss.mlm.item() * masked;
    mlm_n += masked;
    mlm_hits += sum(eq(argmax(loss.mlm_logits, -1), loss.mlm_targets).to(DType::f32)).item();
    nsp_sum += loss.nsp.item() * rows;
    nsp_n += rows;
    nsp_hits += sum(eq(argmax(loss.nsp_logits, -1), batch.nsp_labels).to(DType::f32)).item();
  }
  model.train(was_training);
  return {mlm_sum / mlm_n, mlm_hits / mlm_n, nsp_sum / nsp_n, nsp_hits / nsp_n};
}

void report(const BertEval& e, RunResult& result) {
  result.test["val_mlm_loss"] = e.mlm_loss;
  result.test["val_mlm_perplexity"] = std::exp(e.mlm_loss);
  result.test["val_mlm_accuracy"] = e.mlm_accuracy;
  result.test["val_nsp_loss"] = e.nsp_loss;
  result.test["val_nsp_accuracy"] = e.nsp_accuracy;
  std::cout << "held-out MLM loss " << fmt("%.4f", e.mlm_loss) << " (perplexity " << fmt("%.1f", std::exp(e.mlm_loss))
            << ", accuracy " << fmt("%.3f", e.mlm_accuracy) << "), NSP accuracy " << fmt("%.3f", e.nsp_accuracy)
            << std::endl;
}

}  // namespace

RunResult run_bert_experiment(const config::Document& doc, const RunOverrides& ov) {
  BertRun run = read_run(doc, ov);
  std::vector<std::string> train_texts, val_texts;
  read_texts(run.fortunes_dir, train_texts, val_texts);
  if (ov.limit && *ov.limit > 0) {  // --limit N: the first N texts of each split (fast tests)
    train_texts.resize(std::min(train_texts.size(), static_cast<std::size_t>(*ov.limit)));
    val_texts.resize(std::min(val_texts.size(), static_cast<std::size_t>(*ov.limit)));
  }

  // The vocabulary: the config's file, the run's own (on resume), or trained now.
  const fs::path run_vocab = run.output_dir / "vocab.txt";
  std::unique_ptr<text::WordPieceTokenizer> tokenizer;
  if (!run.vocab_file.empty()) {
    tokenizer = std::make_unique<text::WordPieceTokenizer>(text::WordPieceTokenizer::from_vocab_file(run.vocab_file.string()));
  } else if (ov.resume && fs::exists(run_vocab)) {
    tokenizer = std::make_unique<text::WordPieceTokenizer>(text::WordPieceTokenizer::from_vocab_file(run_vocab.string()));
  } else {
    text::WordPieceTrainerOptions o;
    o.vocab_size = static_cast<std::size_t>(run.vocab_size);
    o.min_frequency = run.min_frequency;
    text::WordPieceTrainer trainer(o);
    trainer.feed(train_texts);
    tokenizer = std::make_unique<text::WordPieceTokenizer>(trainer.train());
    std::cout << "WordPiece vocabulary: " << tokenizer->vocab_size() << " tokens from " << trainer.distinct_words()
              << " distinct words of the training texts\n";
  }
  text::save_vocab_file(*tokenizer, run_vocab);
  run.model.vocab_size = static_cast<std::int64_t>(tokenizer->vocab_size());
  try {
    run.model.validate();
  } catch (const Error& e) {
    doc.root().at("model").fail(e.what());
  }
  const BertCorpus train_corpus(train_texts, *tokenizer);
  const BertCorpus val_corpus(val_texts, *tokenizer);

  Generator gen(run.seed);
  models::Bert model(run.model, gen);
  LmTrainer trainer(model, run.train);
  const fs::path ckpt_path = run.output_dir / "checkpoint.safetensors";
  if (ov.resume) {
    const Checkpoint c = load_checkpoint(ckpt_path);
    if (c.state.value("task", "") != "bert") throw Error(ckpt_path.string() + ": not a BERT pretraining checkpoint");
    model.load_state_dict(c.tensors.with_prefix_removed("model."));
    trainer.load_state_dict(c.tensors.with_prefix_removed("trainer."));
    const auto rng = c.state.at("rng").get<std::vector<std::uint64_t>>();
    if (rng.size() != 2) throw Error(ckpt_path.string() + ": rng state must hold seed and offset");
    gen.set_state(rng[0], rng[1]);
    std::cout << "resumed from " << ckpt_path.string() << " at step " << trainer.steps_done() << "\n";
  }
  const auto save = [&] {
    nn::StateDict tensors;
    tensors.merge(model.state_dict(), "model.");
    tensors.merge(trainer.state_dict(), "trainer.");
    save_checkpoint(ckpt_path, tensors,
                    {{"task", "bert"}, {"rng", std::vector<std::uint64_t>{gen.seed(), gen.offset()}},
                     {"step", trainer.steps_done()}});
  };

  std::cout << "model " << model.name() << ", " << model.num_parameters() << " parameters\n"
            << "data " << run.fortunes_dir.string() << ": " << train_corpus.documents() << " training fortunes ("
            << train_corpus.tokens() << " tokens), " << val_corpus.documents() << " held out (" << val_corpus.tokens()
            << " tokens)\n"
            << "training " << run.train.total_steps << " steps of " << run.batch_size << " pairs of at most "
            << run.seq_len << " tokens, " << num_threads() << " threads, " << dtype_name(run.train.precision) << "\n";

  std::ofstream log(run.output_dir / "log.jsonl", ov.resume ? std::ios::app : std::ios::trunc);
  RunResult result;
  result.output_dir = run.output_dir;
  InterruptGuard interrupt_guard;
  auto window_start = std::chrono::steady_clock::now();
  std::int64_t window_steps = 0;
  double window_loss = 0.0, window_mlm = 0.0, window_nsp = 0.0;
  std::optional<BertEval> final_eval;
  while (trainer.steps_done() < run.train.total_steps) {
    // Each step's batch from its own seed: resuming needs no loader state.
    Generator data_gen(run.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(trainer.steps_done()));
    double mlm = 0.0, nsp = 0.0;
    const LmStepResult r = trainer.step_loss([&] {
      const BertLoss loss = bert_pretraining_loss(model, train_corpus.sample(run.batch_size, run.seq_len, data_gen));
      mlm += loss.mlm.item() / static_cast<double>(run.train.grad_accum);
      nsp += loss.nsp.item() / static_cast<double>(run.train.grad_accum);
      return loss.total;
    });
    const std::int64_t step = trainer.steps_done();
    ++window_steps;
    window_loss += r.loss;
    window_mlm += mlm;
    window_nsp += nsp;
    if (r.skipped) std::cout << "step " << step << ": gradient norm is not finite; update skipped\n";
    if (step % run.log_every == 0 || step == run.train.total_steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      const auto n = static_cast<double>(window_steps);
      std::cout << "step " << step << "/" << run.train.total_steps << " | loss " << fmt("%.4f", window_loss / n)
                << " (mlm " << fmt("%.4f", window_mlm / n) << ", nsp " << fmt("%.4f", window_nsp / n) << ") | lr "
                << fmt("%.2e", r.lr) << " | norm " << fmt("%.3f", r.grad_norm) << " | "
                << fmt("%.2f", secs / n) << " s/step" << std::endl;
      log << nlohmann::json{{"step", step}, {"loss", window_loss / n}, {"mlm_loss", window_mlm / n},
                            {"nsp_loss", window_nsp / n}, {"lr", r.lr}, {"grad_norm", r.grad_norm}}.dump()
          << "\n";
      window_start = std::chrono::steady_clock::now();
      window_steps = 0;
      window_loss = window_mlm = window_nsp = 0.0;
    }
    if (step % run.eval_every == 0 || step == run.train.total_steps) {
      const BertEval e = evaluate(model, val_corpus, run);
      if (step == run.train.total_steps) final_eval = e;
      std::cout << "step " << step << ": held-out MLM loss " << fmt("%.4f", e.mlm_loss) << " (accuracy "
                << fmt("%.3f", e.mlm_accuracy) << "), NSP loss " << fmt("%.4f", e.nsp_loss) << " (accuracy "
                << fmt("%.3f", e.nsp_accuracy) << ")" << std::endl;
      log << nlohmann::json{{"step", step}, {"val_mlm_loss", e.mlm_loss}, {"val_mlm_accuracy", e.mlm_accuracy},
                            {"val_nsp_loss", e.nsp_loss}, {"val_nsp_accuracy", e.nsp_accuracy}}.dump()
          << "\n";
      window_start = std::chrono::steady_clock::now();
    }
    if (run.checkpoint_every > 0 && step % run.checkpoint_every == 0) save();
    if (interrupt_requested()) {
      save();
      std::cout << "interrupted: saved " << ckpt_path.string() << " at step " << step << "; continue with --resume\n";
      result.interrupted = true;
      return result;
    }
  }
  save();
  models::save_hf_bert(model, run.output_dir / "hf");
  text::save_vocab_file(*tokenizer, run.output_dir / "hf" / "vocab.txt");
  report(final_eval ? *final_eval : evaluate(model, val_corpus, run), result);
  std::cout << "outputs in " << run.output_dir.string() << ": hf/ (config.json, model.safetensors, vocab.txt), "
            << "vocab.txt, checkpoint.safetensors, log.jsonl" << std::endl;
  return result;
}

RunResult evaluate_bert_experiment(const config::Document& doc, const RunOverrides& ov) {
  const BertRun run = read_run(doc, ov);
  const fs::path hf = run.output_dir / "hf";
  if (!fs::exists(hf / "model.safetensors")) {
    throw Error("no pretrained model at " + hf.string() + ": train the config first (kiln train " + doc.root().file() + ")");
  }
  std::vector<std::string> train_texts, val_texts;
  read_texts(run.fortunes_dir, train_texts, val_texts);
  const auto tokenizer = text::WordPieceTokenizer::from_vocab_file((hf / "vocab.txt").string());
  const BertCorpus val_corpus(val_texts, tokenizer);
  Generator gen(run.seed);
  const std::unique_ptr<models::Bert> model = models::load_hf_bert(hf, gen);
  std::cout << "model " << model->name() << " from " << hf.string() << "; " << val_corpus.documents()
            << " held-out fortunes\n";
  RunResult result;
  result.output_dir = run.output_dir;
  report(evaluate(*model, val_corpus, run), result);
  return result;
}

}  // namespace kiln::train
