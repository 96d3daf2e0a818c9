// `kiln generate`: text from a GPT in Hugging Face layout (one exported by
// kiln or saved by transformers), greedy, sampled or by beam search, streamed
// to stdout as the tokens come.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kiln/cli/commands.h"
#include "kiln/cli/validators.h"
#include "kiln/core/error.h"
#include "kiln/core/parallel.h"
#include "kiln/core/rng.h"
#include "kiln/generate/generate.h"
#include "kiln/generate/gpt_lm.h"
#include "kiln/io/gguf.h"
#include "kiln/models/gpt_gguf.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/ops/quantized_weights.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln/text/load_tokenizer.h"
#include "kiln/text/unicode.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

struct GenerateOptions {
  std::string prompt;
  bool prompt_set = false;
  std::string model;
  std::string tokenizer;  // empty: the model directory's, else the built-in GPT-2
  std::int64_t max_new_tokens = 64;
  double temperature = 0.0;
  std::int64_t top_k = 0;
  double top_p = 1.0;
  double repetition_penalty = 1.0;
  std::uint64_t seed = 0;
  std::vector<std::string> stops;
  bool ignore_eos = false;
  std::int64_t beams = 1;
  double length_penalty = 1.0;
  bool early_stopping = false;
  std::int64_t num_return = 0;
  int threads = 0;
  bool json = false;
  std::string weights = "f32";  // a WeightFormat name; --bf16 is short for bf16
  bool bf16 = false;
};

// The prompt must be text: a byte-level tokenizer would encode anything, but
// a prompt that is not UTF-8 is almost always the wrong file or encoding.
void check_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const text::Utf8Char c = text::decode_utf8(s, i);
    if (!c.valid) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(static_cast<unsigned char>(s[i])));
      throw Error("the prompt is not valid UTF-8: byte " + std::to_string(i) + " (" + hex +
                  ") starts no character; convert it to UTF-8 first (e.g. iconv)");
    }
    i += c.len;
  }
}

text::BpeTokenizer resolve_tokenizer(const GenerateOptions& o, const models::GptConfig& config) {
  if (o.tokenizer == "gpt2") return text::load_gpt2_builtin();
  if (!o.tokenizer.empty()) return text::load_tokenizer_path(o.tokenizer);
  const fs::path dir = o.model;
  if (dir.extension() == ".gguf") return text::BpeTokenizer::from_gguf(io::GgufFile::open(dir));  // its own vocabulary
  std::error_code ec;
  if (fs::exists(dir / "tokenizer.json", ec)) return text::BpeTokenizer::from_tokenizer_json((dir / "tokenizer.json").string());
  if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec)) {  // transformers' slow-tokenizer files
    return text::BpeTokenizer::from_gpt2_files((dir / "vocab.json").string(), (dir / "merges.txt").string());
  }
  if (config.vocab_size == 50257) return text::load_gpt2_builtin();
  throw Error("no tokenizer for " + o.model + ": it holds no tokenizer.json and its vocabulary (" +
              std::to_string(config.vocab_size) + ") is not GPT-2's; give --tokenizer");
}

std::string read_stdin() {
  std::string s((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Prints generated text as it comes, holding back what could be the start of
// a stop string so that a stop string is never printed.
class StreamPrinter {
 public:
  StreamPrinter(const std::vector<std::string>& stops, bool quiet) : stops_(stops), quiet_(quiet) {
    for (const auto& s : stops) hold_ = std::max(hold_, s.size() > 0 ? s.size() - 1 : 0);
  }
  /// Adds decoded bytes; returns false once a stop string has appeared.
  bool add(const std::string& piece) {
    text_ += piece;
    std::size_t cut = std::string::npos;
    for (const auto& s : stops_) cut = std::min(cut, text_.find(s, printed_ > s.size() ? printed_ - s.size() : 0));
    if (cut != std::string::npos) {
      text_.resize(cut);
      flush();
      return false;
    }
    if (text_.size() > printed_ + hold_) emit(text_.size() - hold_);
    return true;
  }
  void flush() { emit(text_.size()); }
  const std::string& text() const { return text_; }

 private:
  void emit(std::size_t upto) {
    if (upto <= printed_) return;
    if (!quiet_) {
      std::cout.write(text_.data() + printed_, static_cast<std::streamsize>(upto - printed_));
      std::cout.flush();
    }
    printed_ = upto;
  }
  std::vector<std::string> stops_;
  bool quiet_;
  std::size_t hold_ = 0, printed_ = 0;
  std::string text_;
};

void run_generate(GenerateOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const fs::path dir = o.model;
  std::error_code ec;
  const bool gguf = dir.extension() == ".gguf";
  if (!gguf && (!fs::is_directory(dir, ec) || !fs::exists(dir / "config.json", ec))) {
    throw Error("--model " + o.model + " is not a model: expected a GGUF file or a directory with config.json and "
                "model.safetensors (Hugging Face layout, as kiln's LM runs export to their hf/ directory)");
  }
  Generator gen(0);
  const std::unique_ptr<models::Gpt> model = gguf ? models::load_gpt2_gguf(dir, gen) : models::load_hf_gpt2(dir, gen);
  const text::BpeTokenizer tok = resolve_tokenizer(o, model->config());
  if (static_cast<std::int64_t>(tok.vocab_size()) > model->config().vocab_size) {
    throw Error("the tokenizer has " + std::to_string(tok.vocab_size()) + " tokens but the model only " +
                std::to_string(model->config().vocab_size) + "; they do not belong together");
  }
  std::string prompt = o.prompt_set && o.prompt != "-" ? o.prompt : read_stdin();
  check_utf8(prompt);
  std::vector<std::int64_t> ids;
  for (const auto id : tok.encode(prompt)) ids.push_back(static_cast<std::int64_t>(id));
  const std::optional<std::int64_t> eos = [&]() -> std::optional<std::int64_t> {
    if (o.ignore_eos) return std::nullopt;
    const auto id = tok.token_to_id("<|endoftext|>");
    return id ? std::optional<std::int64_t>(static_cast<std::int64_t>(*id)) : std::nullopt;
  }();
  if (ids.empty()) {  // GPT-2 starts unconditional text after <|endoftext|>
    if (!eos) throw Error("the prompt is empty and the tokenizer has no <|endoftext|> to start from");
    ids.push_back(*eos);
  }
  generate::GptLm lm(*model);
  // bf16 / q8_0: the matrix products read a copy of each weight in that format
  // (made once, on first use) and accumulate in f32.
  const WeightFormatGuard format(weight_format_from_name(o.bf16 ? "bf16" : o.weights));
  const auto to_text = [&](const std::vector<std::int64_t>& t) {
    std::vector<text::TokenId> v(t.begin(), t.end());
    return tok.decode(v, /*skip_special=*/true);
  };

  if (o.beams > 1) {
    const auto hyps = generate::beam_search(lm, ids,
                                            {.num_beams = o.beams,
                                             .max_new_tokens = o.max_new_tokens,
                                             .length_penalty = o.length_penalty,
                                             .early_stopping = o.early_stopping,
                                             .eos_token_id = eos,
                                             .num_return_sequences = o.num_return});
    nlohmann::json out = nlohmann::json::array();
    for (const auto& h : hyps) {
      if (o.json) {
        out.push_back({{"text", to_text(h.tokens)}, {"tokens", h.tokens}, {"score", h.score}, {"sum_logprob", h.sum_logprob}});
      } else {
        std::cout << "[score " << h.score << "] " << prompt << to_text(h.tokens) << "\n";
      }
    }
    if (o.json) std::cout << out.dump() << "\n";
    return;
  }

  StreamPrinter printer(o.stops, o.json);
  if (!o.json) {
    std::cout << prompt;
    std::cout.flush();
  }
  bool stopped_by_string = false;
  const auto result = generate::generate(
      lm, ids,
      {.max_new_tokens = o.max_new_tokens,
       .temperature = o.temperature,
       .top_k = o.top_k,
       .top_p = o.top_p,
       .repetition_penalty = o.repetition_penalty,
       .seed = o.seed,
       .eos_token_id = eos},
      [&](std::int64_t token) {
        if (eos && token == *eos) return true;  // not printed
        const bool go_on = printer.add(to_text({token}));
        stopped_by_string = !go_on;
        return go_on;
      });
  printer.flush();
  const char* reason = stopped_by_string ? "stop" : generate::finish_reason_name(result.finish);
  if (o.json) {
    std::cout << nlohmann::json{{"prompt", prompt},
                                {"prompt_tokens", ids.size()},
                                {"text", printer.text()},
                                {"tokens", result.tokens},
                                {"finish_reason", reason}}
                     .dump()
              << "\n";
  } else {
    std::cout << "\n";
    std::cerr << "[" << result.tokens.size() << " tokens, finished: " << reason << "]\n";
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Continue a prompt with a GPT (greedy, sampling or beam search)");
  cmd->add_option("prompt", o->prompt, "The prompt text; '-' or none reads it from stdin")
      ->each([o](const std::string&) { o->prompt_set = true; });
  cmd->add_option("--model", o->model,
                  "A GPT-2 GGUF file (f32, f16, q8_0, q4_0; llama.cpp's or kiln's) or a directory in Hugging Face "
                  "layout (config.json + model.safetensors)")
      ->required();
  cmd->add_option("--tokenizer", o->tokenizer,
                  "'gpt2' (built in), a tokenizer.json, a GGUF file or a directory (default: a GGUF model's own, the "
                  "model directory's tokenizer.json, else GPT-2's for a 50257-token model)");
  cmd->add_option("-n,--max-new-tokens", o->max_new_tokens, "Tokens to generate at most")->check(kNonNegative);
  cmd->add_option("--temperature", o->temperature, "0 = greedy; above 0 samples at this temperature")->check(kNonNegative);
  cmd->add_option("--top-k", o->top_k, "Sample among the k most likely tokens (0 = off)")->check(kNonNegative);
  cmd->add_option("--top-p", o->top_p, "Sample within the smallest set of probability >= p (1 = off)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repetition-penalty", o->repetition_penalty, "Penalise tokens already present (1 = off)")
      ->check(kPositive);
  cmd->add_option("--seed", o->seed, "Seed for sampling");
  cmd->add_option("--stop", o->stops, "Stop when the text contains this string (not printed); repeatable");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep going after <|endoftext|>");
  cmd->add_option("--beams", o->beams, "Beam search with this many beams (1 = off)")->check(kPositive);
  cmd->add_option("--length-penalty", o->length_penalty, "Beam score = log p / length^this");
  cmd->add_flag("--early-stopping", o->early_stopping, "Beam search stops once --beams hypotheses have finished");
  cmd->add_option("--num-return", o->num_return, "Beam hypotheses to print (0 = all beams)")->check(kNonNegative);
  cmd->add_option("--threads", o->threads, "CPU threads (default: KILN_NUM_THREADS, else all cores)")->check(kPositive);
  CLI::Option* weights =
      cmd->add_option("--weights", o->weights,
                      "Weight format of the matrix products: f32 (as stored), bf16 or q8_0 (a copy of each weight "
                      "made at its first use; q8_0 also rounds each product's input to 8-bit blocks, as llama.cpp "
                      "does). Decoding reads half (bf16) or about a quarter (q8_0) of f32's bytes")
          ->check(CLI::Validator(
              [](std::string& text) -> std::string {
                try {
                  (void)weight_format_from_name(text);
                  return {};
                } catch (const Error& e) {
                  return e.what();
                }
              },
              "f32|bf16|q8_0"));
  cmd->add_flag("--bf16", o->bf16, "Same as --weights bf16")->excludes(weights);
  cmd->add_flag("--json", o->json, "Print one JSON object (text, tokens, finish_reason) instead of streaming");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace kiln::cli
