#include "kiln/train/lm_experiment.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/core/machine_peak.h"
#include "kiln/core/parallel.h"
#include "kiln/io/safetensors.h"
#include "kiln/io/token_file.h"
#include "kiln/generate/generate.h"
#include "kiln/generate/gpt_lm.h"
#include "kiln/generate/lstm_lm_adapter.h"
#include "kiln/models/gpt.h"
#include "kiln/models/kneser_ney.h"
#include "kiln/models/lstm_lm.h"
#include "kiln/ops/ops.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/char_tokenizer.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln/train/checkpoint.h"
#include "kiln/train/interrupt.h"
#include "kiln/train/lm_train_config.h"
#include "kiln/train/lm_trainer.h"
#include "kiln/train/token_loader.h"

namespace kiln::train {

namespace {

namespace fs = std::filesystem;

// The data set's manifest.json, as `kiln data prepare` writes it.
struct DataManifest {
  std::int64_t vocab_size = 0;
  std::string tokenizer;  // "gpt2" or "char"
  fs::path gpt2_vocab_dir;
  fs::path char_vocab;
};

struct LmRun {
  std::string name;
  fs::path output_dir;
  fs::path data_dir;
  DataManifest manifest;
  std::uint64_t seed = 0;
  std::string model_type = "gpt";  // "gpt" or "lstm"
  models::GptConfig model;         // model.type = "gpt"
  models::LstmLmConfig lstm;       // model.type = "lstm"
  LmTrainOptions train;
  std::int64_t batch_size = 8, seq_len = 128;
  std::int64_t eval_every = 200, eval_batches = 20, log_every = 10, checkpoint_every = 0;
  std::vector<std::string> prompts;
  std::int64_t sample_tokens = 64;

  std::int64_t vocab_size() const { return model_type == "gpt" ? model.vocab_size : lstm.vocab_size; }
};

DataManifest read_manifest(const fs::path& dir) {
  const fs::path path = dir / "manifest.json";
  std::ifstream in(path);
  if (!in) {
    throw Error("data directory '" + dir.string() + "' has no manifest.json: prepare it first with `kiln data prepare "
                "--output-dir " + dir.string() + " ...`");
  }
  nlohmann::json j;
  try {
    in >> j;
    DataManifest m;
    m.vocab_size = j.at("vocab_size").get<std::int64_t>();
    m.tokenizer = j.at("tokenizer").get<std::string>();
    if (j.contains("gpt2_vocab_dir")) m.gpt2_vocab_dir = j["gpt2_vocab_dir"].get<std::string>();
    if (j.contains("char_vocab")) m.char_vocab = dir / j["char_vocab"].get<std::string>();
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not a kiln data manifest: " + e.what());
  }
}

// Text ↔ ids for prompts and samples, from the data set's own tokenizer.
class Codec {
 public:
  explicit Codec(const DataManifest& m) {
    if (m.tokenizer == "gpt2") {
      bpe_ = std::make_unique<text::BpeTokenizer>(
          m.gpt2_vocab_dir.empty() ? text::load_gpt2_builtin()
                                   : text::BpeTokenizer::from_gpt2_files((m.gpt2_vocab_dir / "encoder.json").string(),
                                                                          (m.gpt2_vocab_dir / "vocab.bpe").string()));
    } else if (m.tokenizer == "char") {
      chars_ = std::make_unique<text::CharTokenizer>(text::CharTokenizer::load(m.char_vocab.string()));
    } else {
      throw Error("data manifest: unknown tokenizer '" + m.tokenizer + "'");
    }
  }
  std::vector<std::int64_t> encode(const std::string& s) const {
    const auto ids = bpe_ ? bpe_->encode(s) : chars_->encode(s);
    return {ids.begin(), ids.end()};
  }
  std::string decode(const std::vector<std::int64_t>& ids) const {
    const std::vector<text::TokenId> t(ids.begin(), ids.end());
    return bpe_ ? bpe_->decode(t) : chars_->decode(t);
  }
  /// The BPE tokenizer, or null for a character vocabulary.
  const text::BpeTokenizer* bpe() const { return bpe_.get(); }

 private:
  std::unique_ptr<text::BpeTokenizer> bpe_;
  std::unique_ptr<text::CharTokenizer> chars_;
};

models::LstmLmConfig read_lstm(const config::Node& m, std::int64_t data_vocab) {
  m.allow_only({"type", "vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout", "tie_weights"});
  models::LstmLmConfig c;
  c.vocab_size = m.get_int("vocab_size", data_vocab);
  if (c.vocab_size < data_vocab) {
    m.at("vocab_size").fail("is " + std::to_string(c.vocab_size) + ", below the data's vocabulary of " +
                            std::to_string(data_vocab));
  }
  c.embedding_dim = m.get_int("embedding_dim", c.embedding_dim);
  c.hidden_size = m.get_int("hidden_size", c.hidden_size);
  c.num_layers = m.get_int("num_layers", c.num_layers);
  c.dropout = m.get_double("dropout", 0.0);
  c.tie_weights = m.has("tie_weights") ? m.at("tie_weights").as_bool() : true;
  try {
    c.validate();
  } catch (const Error& e) {
    m.fail(e.what());
  }
  return c;
}

models::GptConfig read_model(const config::Node& m, std::int64_t data_vocab) {
  m.allow_only({"type", "preset", "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "dropout"});
  models::GptConfig c = m.has("preset") ? models::gpt_preset(m.at("preset").as_string()) : models::gpt2_tiny();
  c.vocab_size = m.get_int("vocab_size", data_vocab);
  if (c.vocab_size < data_vocab) {
    m.at("vocab_size").fail("is " + std::to_string(c.vocab_size) + ", below the data's vocabulary of " +
                            std::to_string(data_vocab));
  }
  c.n_positions = m.get_int("n_positions", c.n_positions);
  c.n_embd = m.get_int("n_embd", c.n_embd);
  c.n_layer = m.get_int("n_layer", c.n_layer);
  c.n_head = m.get_int("n_head", c.n_head);
  c.embd_pdrop = c.resid_pdrop = m.get_double("dropout", 0.0);
  try {
    c.validate();
  } catch (const Error& e) {
    m.fail(e.what());
  }
  return c;
}

LmRun read_run(const config::Document& doc, const RunOverrides& ov) {
  const config::Node root = doc.root();
  root.allow_only({"name", "task", "output_dir", "seed", "threads", "data", "model", "train", "sample"});
  LmRun r;
  r.name = root.get_string("name", "lm");
  if (const auto t = root.find("threads"); t && t->as_int() > 0) set_num_threads(static_cast<int>(t->as_int()));
  r.seed = ov.seed.value_or(static_cast<std::uint64_t>(root.get_int("seed", 1337)));
  const config::Node data = root.at("data");
  data.allow_only({"dir"});
  r.data_dir = ov.data_path.value_or(data.at("dir").as_string());
  r.manifest = read_manifest(r.data_dir);
  const config::Node model_node = root.at("model");
  r.model_type = model_node.get_string("type", "gpt");
  if (r.model_type == "gpt") {
    r.model = read_model(model_node, r.manifest.vocab_size);
  } else if (r.model_type == "lstm") {
    r.lstm = read_lstm(model_node, r.manifest.vocab_size);
  } else {
    model_node.at("type").fail("must be \"gpt\" or \"lstm\", got \"" + r.model_type + "\"");
  }
  const std::int64_t model_context = r.model_type == "gpt" ? r.model.n_positions : std::int64_t{1} << 20;

  const std::optional<config::Node> t = root.find("train");
  if (t) {
    t->allow_only({"batch_size", "seq_len", "steps", "grad_accum", "lr", "min_lr_factor", "warmup_steps",
                   "weight_decay", "beta1", "beta2", "grad_clip", "eval_every", "eval_batches", "log_every",
                   "checkpoint_every", "precision"});
  }
  const auto ti = [&](const char* k, std::int64_t d) { return t ? t->get_int(k, d) : d; };
  r.batch_size = ti("batch_size", 8);
  r.seq_len = ti("seq_len", std::min<std::int64_t>(128, model_context));
  LmTrainOptions defaults;
  defaults.total_steps = 1000;
  r.train = read_lm_train_options(t, defaults, ov.epochs);  // --epochs N means N steps here
  r.eval_every = ti("eval_every", 200);
  r.eval_batches = ti("eval_batches", 20);
  r.log_every = ov.log_every > 0 ? ov.log_every : ti("log_every", 10);
  r.checkpoint_every = ov.checkpoint_every_steps >= 0 ? ov.checkpoint_every_steps : ti("checkpoint_every", 0);
  if (r.batch_size < 1) t->at("batch_size").fail("must be >= 1");
  if (r.seq_len < 1) t->at("seq_len").fail("must be >= 1");
  if (r.seq_len > model_context) {
    t->at("seq_len").fail("is " + std::to_string(r.seq_len) + ", above the model's context of " +
                          std::to_string(model_context) + " positions (model.n_positions)");
  }
  if (r.eval_every < 1 || r.eval_batches < 1 || r.log_every < 1) {
    throw Error(root.file() + ": train.eval_every, eval_batches and log_every must be >= 1");
  }
  if (const auto s = root.find("sample")) {
    s->allow_only({"prompts", "tokens"});
    if (s->has("prompts")) r.prompts = s->at("prompts").as_string_list();
    r.sample_tokens = s->get_int("tokens", 64);
  }
  r.output_dir = ov.output_dir.value_or(root.get_string("output_dir", "runs/" + r.name));
  std::error_code ec;
  fs::create_directories(r.output_dir, ec);
  if (ec) throw Error("output directory '" + r.output_dir.string() + "': cannot create it: " + ec.message());
  return r;
}

// Perplexity of a unigram model (add-one smoothed counts of the training ids)
// on the validation ids: the floor any language model must beat.
double unigram_perplexity(std::span<const std::uint16_t> train, std::span<const std::uint16_t> v, std::int64_t vocab) {
  std::vector<double> counts(static_cast<std::size_t>(vocab), 1.0);
  for (const std::uint16_t id : train) counts[id] += 1.0;
  const double total = static_cast<double>(train.size()) + static_cast<double>(vocab);
  double nll = 0.0;
  for (std::size_t i = 1; i < v.size(); ++i) nll -= std::log(counts[v[i]] / total);
  return std::exp(nll / static_cast<double>(v.size() > 1 ? v.size() - 1 : 1));
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// The model's validation loss beside the unigram perplexity (computed by the
// caller, unigram_perplexity) and the Kneser-Ney trigram, all on the same
// `scored` tokens (predicted: tokens 1..), printed and put into result.test.
void report_perplexities(double val_loss, double unigram, std::span<const std::uint16_t> train,
                         std::span<const std::uint16_t> scored, std::int64_t vocab, RunResult& result) {
  const double kn3 = std::exp(models::KneserNeyLm(train, vocab, 3).cross_entropy(scored));
  result.test["val_loss"] = val_loss;
  result.test["val_perplexity"] = std::exp(val_loss);
  result.test["unigram_perplexity"] = unigram;
  result.test["kneser_ney3_perplexity"] = kn3;
  std::cout << "validation loss " << fmt("%.4f", val_loss) << ", perplexity " << fmt("%.2f", std::exp(val_loss))
            << " over " << (scored.size() - 1) << " held-out tokens (baselines on the same tokens: unigram "
            << fmt("%.1f", unigram) << ", Kneser-Ney trigram " << fmt("%.1f", kn3) << ")\n";
}

std::unique_ptr<models::LanguageModel> make_model(const LmRun& run, Generator& gen) {
  if (run.model_type == "gpt") return std::make_unique<models::Gpt>(run.model, gen);
  return std::make_unique<models::LstmLm>(run.lstm, gen);
}

}  // namespace

RunResult run_lm_experiment(const config::Document& doc, const RunOverrides& ov) {
  const LmRun run = read_run(doc, ov);
  const DataManifest& manifest = run.manifest;
  const auto train_file = std::make_shared<const io::TokenFile>(run.data_dir / "train.bin",
                                                                io::TokenFileReadOptions{.vocab_size = run.vocab_size()});
  const auto val_file = std::make_shared<const io::TokenFile>(run.data_dir / "val.bin",
                                                              io::TokenFileReadOptions{.vocab_size = run.vocab_size()});
  TokenLoader train_loader(train_file, {.batch_size = run.batch_size, .seq_len = run.seq_len, .seed = run.seed});
  TokenLoader val_loader(val_file, {.batch_size = run.batch_size, .seq_len = run.seq_len, .seed = run.seed});

  Generator gen(run.seed);
  const std::unique_ptr<models::LanguageModel> model_ptr = make_model(run, gen);
  models::LanguageModel& model = *model_ptr;
  LmTrainer trainer(model, run.train);
  const fs::path ckpt_path = run.output_dir / "checkpoint.safetensors";
  if (ov.resume) {
    const Checkpoint c = load_checkpoint(ckpt_path);
    model.load_state_dict(c.tensors.with_prefix_removed("model."));
    trainer.load_state_dict(c.tensors.with_prefix_removed("trainer."));
    train_loader.set_step(c.state.at("loader_step").get<std::int64_t>());
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
                    {{"task", "lm"}, {"loader_step", train_loader.step()}, {"rng", std::vector<std::uint64_t>{gen.seed(), gen.offset()}},
                     {"step", trainer.steps_done()}});
  };

  const MachinePeak peak = measure_machine_peak(num_threads());
  const double flops_per_token = model.train_flops_per_token(run.seq_len);
  const std::int64_t tokens_per_step = run.batch_size * run.seq_len * run.train.grad_accum;
  // Every perplexity below is over the same held-out tokens: those the
  // validation windows predict (tokens 1 .. W·T of val.bin).
  const std::int64_t all_val_batches = val_loader.num_sequential_batches();
  const std::span<const std::uint16_t> scored =
      val_file->tokens().subspan(0, static_cast<std::size_t>(val_loader.num_windows() * run.seq_len + 1));
  const double unigram = unigram_perplexity(train_file->tokens(), scored, run.vocab_size());
  std::cout << "model " << model.describe() << ", " << model.num_parameters() << " parameters\n"
            << "data " << run.data_dir.string() << ": " << train_file->size() << " training and " << val_file->size()
            << " validation tokens (" << manifest.tokenizer << " tokenizer); unigram validation perplexity "
            << fmt("%.1f", unigram) << "\n"
            << "training " << run.train.total_steps << " steps of " << tokens_per_step << " tokens (B=" << run.batch_size
            << ", T=" << run.seq_len << ", accumulation " << run.train.grad_accum << "), " << num_threads()
            << " threads, " << dtype_name(run.train.precision) << ", peak f32 FMA " << fmt("%.0f", peak.f32_gflops)
            << " / bf16 dot " << fmt("%.0f", peak.bf16_gflops) << " GFLOP/s (MFU is against the one in use)\n";

  std::ofstream log(run.output_dir / "log.jsonl", ov.resume ? std::ios::app : std::ios::trunc);
  const std::int64_t val_batches = val_loader.num_sequential_batches(run.eval_batches);
  const auto evaluate = [&] {
    return trainer.evaluate([&](std::int64_t i) { return val_loader.sequential_batch(i); }, val_batches);
  };

  RunResult result;
  result.output_dir = run.output_dir;
  InterruptGuard interrupt_guard;
  auto window_start = std::chrono::steady_clock::now();
  std::int64_t window_steps = 0;
  double window_loss = 0.0;
  std::optional<double> final_val;  // the evaluation after the last step, reported at the end
  while (trainer.steps_done() < run.train.total_steps) {
    const LmStepResult r = trainer.step([&] { return train_loader.next_batch(); });
    const std::int64_t step = trainer.steps_done();
    ++window_steps;
    window_loss += r.loss;
    if (r.skipped) std::cout << "step " << step << ": gradient norm is not finite; update skipped\n";
    if (step % run.log_every == 0 || step == run.train.total_steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      const double tok_s = static_cast<double>(tokens_per_step * window_steps) / secs;
      const double peak_gflops = run.train.precision == DType::bf16 && peak.bf16_gflops > 0 ? peak.bf16_gflops
                                                                                           : peak.f32_gflops;
      const double mfu = flops_per_token * tok_s / (peak_gflops * 1e9);
      const double loss = window_loss / static_cast<double>(window_steps);
      std::cout << "step " << step << "/" << run.train.total_steps << " | loss " << fmt("%.4f", loss) << " | lr "
                << fmt("%.2e", r.lr) << " | norm " << fmt("%.3f", r.grad_norm) << " | " << fmt("%.0f", tok_s)
                << " tok/s | MFU " << fmt("%.1f", 100.0 * mfu) << "%" << std::endl;
      log << nlohmann::json{{"step", step}, {"loss", loss}, {"lr", r.lr}, {"grad_norm", r.grad_norm},
                            {"tokens_per_s", tok_s}, {"mfu", mfu}}.dump()
          << "\n";
      window_start = std::chrono::steady_clock::now();
      window_steps = 0;
      window_loss = 0.0;
    }
    if (step % run.eval_every == 0 || step == run.train.total_steps) {
      const double val = evaluate();
      if (step == run.train.total_steps) final_val = val;
      std::cout << "step " << step << ": validation loss " << fmt("%.4f", val) << ", perplexity "
                << fmt("%.2f", std::exp(val)) << " (unigram " << fmt("%.1f", unigram) << ")" << std::endl;
      log << nlohmann::json{{"step", step}, {"val_loss", val}, {"val_perplexity", std::exp(val)}}.dump() << "\n";
      window_start = std::chrono::steady_clock::now();  // evaluation time is not training throughput
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
  const Codec codec(manifest);
  if (run.model_type == "gpt") {
    io::save_safetensors(run.output_dir / "model.safetensors", model.state_dict().entries(),
                         {{"kiln.model", "gpt"}, {"kiln.gpt", run.model.str()}});
    // The same weights in Hugging Face's layout, for `kiln generate` and transformers.
    models::save_hf_gpt2(static_cast<const models::Gpt&>(model), run.output_dir / "hf", codec.bpe());
  } else {
    io::save_safetensors(run.output_dir / "model.safetensors", model.state_dict().entries(),
                         {{"kiln.model", "lstm_lm"}, {"kiln.lstm_lm", run.lstm.str()}});
  }
  // The final figure covers every validation window (the in-loop ones, eval_batches).
  // The last in-loop evaluation is reused when it already covered them all.
  const double val = final_val && val_batches == all_val_batches
                         ? *final_val
                         : trainer.evaluate([&](std::int64_t i) { return val_loader.sequential_batch(i); }, all_val_batches);
  report_perplexities(val, unigram, train_file->tokens(), scored, run.vocab_size(), result);

  if (!run.prompts.empty()) {
    std::ofstream samples(run.output_dir / "samples.txt");
    std::unique_ptr<generate::IncrementalLm> lm;
    if (run.model_type == "gpt") {
      lm = std::make_unique<generate::GptLm>(static_cast<models::Gpt&>(model));
    } else {
      lm = std::make_unique<generate::LstmLmAdapter>(static_cast<models::LstmLm&>(model));
    }
    for (const std::string& prompt : run.prompts) {
      std::vector<std::int64_t> ids = codec.encode(prompt);
      if (ids.empty()) ids.push_back(0);
      const std::int64_t room = std::max<std::int64_t>(0, model.context_length() - static_cast<std::int64_t>(ids.size()));
      std::vector<std::int64_t> out = ids;
      const auto gen_tokens = generate::generate(*lm, ids, {.max_new_tokens = std::min(run.sample_tokens, room)}).tokens;
      out.insert(out.end(), gen_tokens.begin(), gen_tokens.end());
      const std::string textout = codec.decode(out);
      std::cout << "sample (greedy) for \"" << prompt << "\":\n" << textout << "\n";
      samples << textout << "\n\n";
    }
  }
  return result;
}

RunResult evaluate_lm_experiment(const config::Document& doc, const RunOverrides& ov) {
  const LmRun run = read_run(doc, ov);
  const fs::path weights = run.output_dir / "model.safetensors";
  if (!fs::exists(weights)) {
    throw Error("no trained model at " + weights.string() + ": train the config first (kiln train " + doc.root().file() + ")");
  }
  Generator gen(run.seed);
  const std::unique_ptr<models::LanguageModel> model = make_model(run, gen);
  const io::SafetensorsFile file = io::SafetensorsFile::open(weights);
  nn::StateDict state;
  for (const auto& e : file.entries()) state.add(e.name, file.tensor(e.name));
  try {
    model->load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    throw Error(weights.string() + ": " + e.what());
  }
  const auto train_file = std::make_shared<const io::TokenFile>(run.data_dir / "train.bin",
                                                                io::TokenFileReadOptions{.vocab_size = run.vocab_size()});
  const auto val_file = std::make_shared<const io::TokenFile>(run.data_dir / "val.bin",
                                                              io::TokenFileReadOptions{.vocab_size = run.vocab_size()});
  const TokenLoader val_loader(val_file, {.batch_size = run.batch_size, .seq_len = run.seq_len, .seed = run.seed});
  LmTrainer trainer(*model, run.train);
  const double val = trainer.evaluate([&](std::int64_t i) { return val_loader.sequential_batch(i); },
                                      val_loader.num_sequential_batches());
  const std::span<const std::uint16_t> scored =
      val_file->tokens().subspan(0, static_cast<std::size_t>(val_loader.num_windows() * run.seq_len + 1));
  std::cout << "model " << model->describe() << " from " << weights.string() << "\n";
  RunResult result;
  result.output_dir = run.output_dir;
  report_perplexities(val, unigram_perplexity(train_file->tokens(), scored, run.vocab_size()), train_file->tokens(),
                      scored, run.vocab_size(), result);
  return result;
}

}  // namespace kiln::train
