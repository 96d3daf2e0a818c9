// `kiln tokenize encode|decode|count|train`: byte-level BPE (GPT-2 and Hugging
// Face tokenizer.json) from the command line.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/cli/commands.h"
#include "kiln/cli/inputs.h"
#include "kiln/cli/table.h"
#include "kiln/cli/validators.h"
#include "kiln/core/error.h"
#include "kiln/core/parallel.h"
#include "kiln/io/fortunes.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln/text/load_tokenizer.h"
#include "kiln/text/bpe_trainer.h"
#include "kiln/text/parallel_encode.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

// ---- loading the tokenizer -------------------------------------------------------------

struct TokenizerOptions {
  std::string tokenizer = "gpt2";
  std::string vocab;   // encoder.json, with --tokenizer gpt2
  std::string merges;  // vocab.bpe, with --tokenizer gpt2
};

void add_tokenizer_options(CLI::App* cmd, TokenizerOptions& o) {
  cmd->add_option("--tokenizer", o.tokenizer,
                  "'gpt2' (GPT-2's vocabulary, built in; or the files given by --vocab and --merges), a Hugging "
                  "Face tokenizer.json, a GGUF model file (its tokenizer metadata), or a directory holding "
                  "tokenizer.json or encoder.json + vocab.bpe");
  cmd->add_option("--vocab", o.vocab, "GPT-2 encoder.json (with --tokenizer gpt2 and --merges)")->default_str("built in");
  cmd->add_option("--merges", o.merges, "GPT-2 vocab.bpe (with --tokenizer gpt2 and --vocab)")->default_str("built in");
}

text::BpeTokenizer load_tokenizer(const TokenizerOptions& o) {
  if (o.tokenizer == "gpt2") {
    if (o.vocab.empty() != o.merges.empty()) {
      throw Error("--vocab and --merges go together (GPT-2's encoder.json and vocab.bpe); give both, or neither "
                  "for the built-in GPT-2 vocabulary");
    }
    return o.vocab.empty() ? text::load_gpt2_builtin() : text::BpeTokenizer::from_gpt2_files(o.vocab, o.merges);
  }
  if (!o.vocab.empty() || !o.merges.empty()) {
    throw Error("--vocab and --merges go with --tokenizer gpt2, not with --tokenizer " + o.tokenizer);
  }
  return text::load_tokenizer_path(o.tokenizer);
}

// ---- encode / count ---------------------------------------------------------------------------

struct EncodeOptions {
  TokenizerOptions tok;
  std::vector<std::string> files;
  bool allow_special = false;
  bool json = false;
  bool lines = false;
  int threads = 1;
};

text::AllowedSpecial allowed(bool allow_special) {
  return allow_special ? text::AllowedSpecial::all() : text::AllowedSpecial::none();
}

void append_ids(std::string& out, const std::vector<text::TokenId>& ids, bool json) {
  if (json) out += '[';
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += json ? ',' : ' ';
    out += std::to_string(ids[i]);
  }
  if (json) out += ']';
  out += '\n';
}

void write_stdout(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size()) throw Error("cannot write to standard output");
}

void run_encode(const EncodeOptions& o) {
  set_num_threads(o.threads);
  const text::BpeTokenizer tok = load_tokenizer(o.tok);
  const std::vector<Input> inputs = read_inputs(o.files);
  std::vector<std::string_view> docs;
  for (const Input& in : inputs) {
    if (o.lines) {
      for (const std::string_view line : split_lines(in.data)) docs.push_back(line);
    } else {
      docs.push_back(in.data);
    }
  }
  const auto ids = text::encode_texts_parallel(tok, docs, allowed(o.allow_special));
  std::string out;
  for (const auto& d : ids) {
    append_ids(out, d, o.json);
    if (out.size() > (1U << 20)) {
      write_stdout(out);
      out.clear();
    }
  }
  write_stdout(out);
}

struct CountOptions {
  TokenizerOptions tok;
  std::vector<std::string> files;
  bool allow_special = false;
  bool json = false;
  int threads = 1;
};

std::string ratio_text(std::uint64_t bytes, std::uint64_t tokens) {
  if (tokens == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(bytes) / static_cast<double>(tokens));
  return buf;
}

void run_count(const CountOptions& o) {
  set_num_threads(o.threads);
  const text::BpeTokenizer tok = load_tokenizer(o.tok);
  const std::vector<Input> inputs = read_inputs(o.files);
  std::vector<std::string_view> docs;
  for (const Input& in : inputs) docs.push_back(in.data);
  const auto ids = text::encode_texts_parallel(tok, docs, allowed(o.allow_special));
  std::uint64_t total_tokens = 0, total_bytes = 0;
  nlohmann::json files = nlohmann::json::array();
  Table t({"tokens", "bytes", "bytes/token", "file"}, {true, true, true, false});
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::uint64_t n = ids[i].size(), b = inputs[i].data.size();
    total_tokens += n;
    total_bytes += b;
    files.push_back({{"file", inputs[i].name}, {"tokens", n}, {"bytes", b}});
    t.add({std::to_string(n), std::to_string(b), ratio_text(b, n), inputs[i].name});
  }
  if (o.json) {
    const nlohmann::json doc = {{"files", files}, {"total", {{"tokens", total_tokens}, {"bytes", total_bytes}}}};
    std::cout << doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    return;
  }
  t.add({std::to_string(total_tokens), std::to_string(total_bytes), ratio_text(total_bytes, total_tokens), "total"});
  t.print(std::cout);
}

// ---- decode -----------------------------------------------------------------------------------------

struct DecodeOptions {
  TokenizerOptions tok;
  std::vector<std::string> files;
  bool skip_special = false;
  bool lines = false;
};

/// The ids on one line: integers separated by whitespace or commas, JSON
/// brackets ignored (so `encode --json` output decodes too).
std::vector<text::TokenId> parse_ids(std::string_view line, const std::string& where, std::size_t vocab_size) {
  std::vector<text::TokenId> ids;
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '[' || c == ']') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < line.size() && !(line[j] == ' ' || line[j] == '\t' || line[j] == '\r' || line[j] == ',' ||
                                line[j] == '[' || line[j] == ']')) {
      ++j;
    }
    const std::string_view word = line.substr(i, j - i);
    text::TokenId id = 0;
    bool ok = word.size() <= 18;
    for (const char d : word) ok = ok && d >= '0' && d <= '9';
    if (ok) {
      for (const char d : word) id = id * 10 + (d - '0');
    }
    if (!ok) throw Error(where + ": '" + std::string(word) + "' is not a token id (a non-negative integer)");
    if (static_cast<std::uint64_t>(id) >= vocab_size) {
      throw Error(where + ": token id " + std::to_string(id) + " is outside the vocabulary (ids 0.." +
                  std::to_string(vocab_size - 1) + ")");
    }
    ids.push_back(id);
    i = j;
  }
  return ids;
}

void run_decode(const DecodeOptions& o) {
  const text::BpeTokenizer tok = load_tokenizer(o.tok);
  const std::vector<Input> inputs = read_inputs(o.files);
  std::string out;
  for (const Input& in : inputs) {
    std::size_t line_no = 0;
    for (const std::string_view line : split_lines(in.data)) {
      ++line_no;
      const std::string where = in.name + ":" + std::to_string(line_no);
      const std::vector<text::TokenId> ids = parse_ids(line, where, tok.vocab_size());
      try {
        out += tok.decode(ids, o.skip_special);
      } catch (const Error& e) {
        throw Error(where + ": " + e.what());  // an id inside the range that names no token
      }
      if (o.lines) out += '\n';
      if (out.size() > (1U << 20)) {
        write_stdout(out);
        out.clear();
      }
    }
  }
  write_stdout(out);
}

// ---- train ------------------------------------------------------------------------------------------------

struct TrainBpeOptions {
  std::vector<std::string> inputs;
  std::int64_t vocab_size = 30000;
  std::int64_t min_frequency = 0;
  std::vector<std::string> special;
  std::string output = "tokenizer.json";
  bool fortunes = false;
};

/// Feeds one fortune file's entries; returns the bytes fed.
std::uint64_t feed_fortunes(text::BpeTrainer& trainer, const fs::path& path, std::size_t& texts) {
  io::FortuneReader reader(path);
  io::Fortune f;
  std::vector<std::string> batch;
  std::uint64_t bytes = 0;
  while (reader.next(f)) {
    bytes += f.text.size();
    batch.push_back(std::move(f.text));
  }
  texts += batch.size();
  trainer.feed(batch);
  return bytes;
}

void run_train_bpe(const TrainBpeOptions& o) {
  text::BpeTrainerOptions topt;
  topt.vocab_size = static_cast<std::size_t>(o.vocab_size);
  topt.min_frequency = o.min_frequency;
  topt.special_tokens = o.special;
  text::BpeTrainer trainer(topt);

  const auto start = std::chrono::steady_clock::now();
  std::size_t files = 0, texts = 0;
  std::uint64_t bytes = 0;
  for (const std::string& in : o.inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      const std::vector<fs::path> found = io::fortune_files(in);
      if (found.empty()) throw Error(in + ": directory holds no fortune files");
      for (const fs::path& p : found) {
        bytes += feed_fortunes(trainer, p, texts);
        ++files;
      }
    } else if (o.fortunes) {
      if (!fs::exists(in, ec)) throw Error(in + ": no such file");
      bytes += feed_fortunes(trainer, in, texts);
      ++files;
    } else {
      std::vector<Input> read = read_inputs({in});
      bytes += read[0].data.size();
      std::vector<std::string> one;
      one.push_back(std::move(read[0].data));
      trainer.feed(one);
      ++files;
      ++texts;
    }
  }
  const text::BpeTokenizer tok = trainer.train();
  tok.save_tokenizer_json(o.output);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", seconds);
  std::cout << "read " << texts << " texts (" << bytes << " bytes) from " << files << " files; "
            << trainer.distinct_words() << " distinct pre-tokenized words\n"
            << "trained a vocabulary of " << tok.vocab_size() << " tokens (" << tok.model().merges.size()
            << " merges, " << o.special.size() << " special) in " << secs << " s\n"
            << "wrote " << o.output << "\n";
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode, decode, count tokens with, or train a byte-level BPE tokenizer");
  cmd->require_subcommand(1);
  const int default_threads = num_threads();
  const std::string threads_help = "CPU threads (the default comes from KILN_NUM_THREADS, else all cores)";

  {
    auto o = std::make_shared<EncodeOptions>();
    o->threads = default_threads;
    CLI::App* sub = cmd->add_subcommand(
        "encode", "Print token ids: one line per input file (or per line with --lines), ids separated by spaces");
    sub->add_option("files", o->files, "Text files to encode ('-' or none: standard input)")->default_str("");
    add_tokenizer_options(sub, o->tok);
    sub->add_flag("--allow-special", o->allow_special,
                  "Turn special tokens such as <|endoftext|> in the text into their ids (else they are plain text)");
    sub->add_flag("--json", o->json, "Print each line of ids as a JSON array");
    sub->add_flag("--lines", o->lines, "Encode every input line (without its newline) separately");
    sub->add_option("--threads", o->threads, threads_help)->check(kPositive);
    sub->callback([o] { run_encode(*o); });
  }
  {
    auto o = std::make_shared<DecodeOptions>();
    CLI::App* sub = cmd->add_subcommand(
        "decode", "Turn token ids (separated by spaces, commas or JSON brackets) back into text bytes");
    sub->add_option("files", o->files, "Files of ids ('-' or none: standard input)")->default_str("");
    add_tokenizer_options(sub, o->tok);
    sub->add_flag("--skip-special", o->skip_special, "Leave special tokens out of the text");
    sub->add_flag("--lines", o->lines, "End each decoded line with a newline (undoes encode --lines)");
    sub->callback([o] { run_decode(*o); });
  }
  {
    auto o = std::make_shared<CountOptions>();
    o->threads = default_threads;
    CLI::App* sub = cmd->add_subcommand("count", "Count tokens per file and in total");
    sub->add_option("files", o->files, "Text files ('-' or none: standard input)")->default_str("");
    add_tokenizer_options(sub, o->tok);
    sub->add_flag("--allow-special", o->allow_special, "Count special tokens in the text as one token each");
    sub->add_flag("--json", o->json, "Print the counts as JSON");
    sub->add_option("--threads", o->threads, threads_help)->check(kPositive);
    sub->callback([o] { run_count(*o); });
  }
  {
    auto o = std::make_shared<TrainBpeOptions>();
    CLI::App* sub = cmd->add_subcommand("train", "Train a byte-level BPE tokenizer and save it as tokenizer.json");
    sub->add_option("inputs", o->inputs,
                    "Text files (each one text) or directories of fortune files (each entry one text)")
        ->required()
        ->default_str("");
    sub->add_option("--vocab-size", o->vocab_size, "Vocabulary size to reach, special tokens and 256 bytes included")
        ->check(kPositive);
    sub->add_option("--min-frequency", o->min_frequency, "Never merge pairs seen fewer times than this")
        ->check(kNonNegative);
    sub->add_option("--special", o->special, "Special token to reserve (ids from 0; repeat for more)")
        ->default_str("none")
        ->allow_extra_args(false);
    sub->add_option("-o,--output", o->output, "Where to write the tokenizer.json");
    sub->add_flag("--fortunes", o->fortunes, "Read input files as fortune files (entries split on '%' lines)");
    sub->callback([o] { run_train_bpe(*o); });
  }
}

}  // namespace kiln::cli
