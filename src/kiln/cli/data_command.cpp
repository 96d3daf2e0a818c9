// `kiln data prepare`: text -> train.bin / val.bin token files (llm.c's layout,
// kiln/io/token_file.h) for language-model training, plus a JSON manifest.
//
// Documents are whole files, lines (--split-lines) or fortune entries
// (--split-fortunes, and the --source sets). Each document is preceded by the
// end-of-text token, as llm.c's data scripts do, so a model learns where
// documents start and generation can begin from that token. The validation
// documents are picked by a seeded hash of their index, so the same inputs and
// seed always give the same split.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/cli/commands.h"
#include "kiln/cli/inputs.h"
#include "kiln/cli/table.h"
#include "kiln/cli/validators.h"
#include "kiln/core/error.h"
#include "kiln/core/parallel.h"
#include "kiln/core/rng.h"
#include "kiln/io/file_util.h"
#include "kiln/io/fortunes.h"
#include "kiln/io/token_file.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln/text/char_tokenizer.h"
#include "kiln/text/parallel_encode.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEndOfText = "<|endoftext|>";
constexpr const char* kUnknown = "<unk>";
constexpr const char* kCharVocabFile = "char_tokenizer.json";


struct PrepareOptions {
  std::vector<std::string> inputs;
  std::string source;  // "fortunes" or "fortunes-zh"
  bool split_lines = false;
  bool split_fortunes = false;
  bool strip_ansi = false;
  std::string tokenizer = "gpt2";
  std::string vocab_dir;           // GPT-2 files; empty: $KILN_GPT2_DIR or the built-in vocabulary
  std::int64_t max_vocab = 0;      // char: 0 = no limit
  std::string output_dir;          // empty: data/<source or input>-<tokenizer>
  double val_fraction = 0.05;
  std::uint64_t seed = 0;
  int threads = 1;
};

// ---- reading documents ------------------------------------------------------------------------

struct Corpus {
  std::vector<std::string> documents;
  std::vector<std::string> sources;  // the files read, in order
  std::uint64_t bytes = 0;
};

/// `s` without ANSI CSI sequences (ESC '[' parameters intermediates final), the
/// colour codes fortunes-zh wraps its titles and authors in.
std::string strip_ansi_sequences(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < s.size() && s[j] >= 0x20 && s[j] <= 0x3F) ++j;  // parameter and intermediate bytes
      if (j < s.size() && s[j] >= 0x40 && s[j] <= 0x7E) {         // final byte
        i = j + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

void add_document(Corpus& c, std::string text, bool strip_ansi) {
  if (strip_ansi) text = strip_ansi_sequences(text);
  if (text.empty()) return;  // nothing to learn; an empty file or line is not a document
  c.bytes += text.size();
  c.documents.push_back(std::move(text));
}

void add_fortune_file(Corpus& c, const fs::path& path, bool strip_ansi) {
  io::FortuneReader reader(path);
  io::Fortune f;
  while (reader.next(f)) add_document(c, std::move(f.text), strip_ansi);
  c.sources.push_back(path.string());
}

Corpus read_source(const std::string& source) {
  Corpus c;
  if (source == "fortunes") {
    for (const fs::path& p : io::fortune_files()) add_fortune_file(c, p, true);  // English only
    if (c.sources.empty()) {
      throw Error("--source fortunes: no English fortune files in " + io::kFortunesDir.string() +
                  "; install them with `apt-get install fortunes`");
    }
    return c;
  }
  // fortunes-zh: the Tang poems and Song lyrics (UTF-8, titles and authors in ANSI colours).
  for (const char* name : {"tang300", "song100"}) {
    const fs::path p = io::kFortunesDir / name;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      throw Error("--source fortunes-zh: '" + p.string() + "' not found; install it with `apt-get install fortunes-zh`");
    }
    add_fortune_file(c, p, true);
  }
  return c;
}

Corpus read_input_files(const PrepareOptions& o) {
  Corpus c;
  if (o.split_fortunes) {
    for (const std::string& path : o.inputs) {
      if (path == "-") throw Error("--split-fortunes reads named files, not standard input ('-')");
      std::error_code ec;
      if (!fs::exists(path, ec)) throw Error(path + ": no such file");
      add_fortune_file(c, path, o.strip_ansi);
    }
    return c;
  }
  for (Input& in : read_inputs(o.inputs)) {
    if (o.split_lines) {
      for (const std::string_view line : split_lines(in.data)) add_document(c, std::string(line), o.strip_ansi);
    } else {
      add_document(c, std::move(in.data), o.strip_ansi);
    }
    c.sources.push_back(in.name);
  }
  return c;
}

// ---- the split --------------------------------------------------------------------------------

/// is_val[i] for each of `n` documents: the round(fraction * n) documents (at
/// least 1, at most n-1) with the smallest Philox(seed, i) keys. The keys depend
/// only on the seed and the document's index, so the split is reproducible.
std::vector<bool> choose_validation(std::size_t n, double fraction, std::uint64_t seed) {
  std::vector<bool> is_val(n, false);
  if (fraction <= 0.0) return is_val;
  if (n < 2) {
    char f[32];
    std::snprintf(f, sizeof f, "%g", fraction);
    throw Error(std::string("--val-fraction ") + f + " needs at least 2 documents to hold some out, got " +
                std::to_string(n) + "; use --split-lines, several --input files, or --val-fraction 0");
  }
  const auto want = static_cast<std::size_t>(std::llround(fraction * static_cast<double>(n)));
  const std::size_t k = std::clamp<std::size_t>(want, 1, n - 1);
  std::vector<std::pair<std::uint64_t, std::size_t>> keys(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto r = philox4x32(i, 0, seed);
    keys[i] = {(static_cast<std::uint64_t>(r[1]) << 32) | r[0], i};
  }
  std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k), keys.end());
  for (std::size_t j = 0; j < k; ++j) is_val[keys[j].second] = true;
  return is_val;
}

// ---- tokenizing -------------------------------------------------------------------------------

struct Split {
  std::vector<std::uint16_t> tokens;
  std::size_t documents = 0;
  std::uint64_t unknown = 0;  // char: characters encoded as <unk>
};

struct Encoded {
  Split train, val;
  std::int64_t vocab_size = 0;
  std::int64_t eot_id = 0;
  io::TokenizerKind kind = io::TokenizerKind::unrecorded;
  std::optional<text::CharTokenizer> chars;  // the fitted character vocabulary
};

/// Appends <eot> and the document's ids to its split; ids are checked against
/// the vocabulary before narrowing to uint16.
void append_document(Split& split, std::span<const text::TokenId> ids, const Encoded& e,
                     std::optional<text::TokenId> unk_id) {
  split.tokens.push_back(static_cast<std::uint16_t>(e.eot_id));
  for (const text::TokenId id : ids) {
    if (id < 0 || id >= e.vocab_size) {
      throw Error("data prepare: the tokenizer produced id " + std::to_string(id) + " outside its vocabulary of " +
                  std::to_string(e.vocab_size));
    }
    if (unk_id && id == *unk_id) ++split.unknown;
    split.tokens.push_back(static_cast<std::uint16_t>(id));
  }
  ++split.documents;
}

/// GPT-2's encoder.json and vocab.bpe from --vocab DIR, else $KILN_GPT2_DIR,
/// else none: the vocabulary compiled into kiln (text/gpt2_builtin.h).
std::optional<fs::path> gpt2_dir(const PrepareOptions& o) {
  if (!o.vocab_dir.empty()) return fs::path(o.vocab_dir);
  if (const char* env = std::getenv("KILN_GPT2_DIR"); env != nullptr && *env != '\0') return fs::path(env);
  return std::nullopt;
}

Encoded encode_gpt2(const Corpus& c, const std::vector<bool>& is_val, const PrepareOptions& o) {
  const std::optional<fs::path> dir = gpt2_dir(o);
  if (dir) {
    for (const char* name : {"encoder.json", "vocab.bpe"}) {
      std::error_code ec;
      if (!fs::is_regular_file(*dir / name, ec)) {
        throw Error("GPT-2 vocabulary directory '" + dir->string() + "' has no " + name +
                    "; give --vocab DIR holding encoder.json and vocab.bpe (or leave both --vocab and KILN_GPT2_DIR "
                    "unset for the built-in vocabulary)");
      }
    }
  }
  const text::BpeTokenizer tok =
      dir ? text::BpeTokenizer::from_gpt2_files((*dir / "encoder.json").string(), (*dir / "vocab.bpe").string())
          : text::load_gpt2_builtin();
  Encoded e;
  e.kind = io::TokenizerKind::gpt2;
  e.vocab_size = static_cast<std::int64_t>(tok.vocab_size());
  const auto eot = tok.token_to_id(kEndOfText);
  if (!eot) throw Error("GPT-2 vocabulary in '" + (dir ? dir->string() : "(built-in)") + "' has no " + kEndOfText + " token");
  e.eot_id = *eot;
  const std::vector<std::string_view> docs(c.documents.begin(), c.documents.end());
  // Ordinary encoding: "<|endoftext|>" written in a document is text, not the separator.
  const auto ids = text::encode_texts_parallel(tok, docs, text::AllowedSpecial::none());
  for (std::size_t i = 0; i < ids.size(); ++i) append_document(is_val[i] ? e.val : e.train, ids[i], e, std::nullopt);
  return e;
}

Encoded encode_chars(const Corpus& c, const std::vector<bool>& is_val, const PrepareOptions& o) {
  text::CharTokenizer tok({.special_tokens = {kEndOfText, kUnknown},
                           .unk_token = kUnknown,
                           .min_frequency = 1,
                           .max_vocab_size = o.max_vocab > 0 ? std::optional(o.max_vocab) : std::nullopt});
  // The vocabulary comes from the training documents only; validation characters
  // it lacks become <unk> (counted in the summary).
  std::vector<std::string> train_docs;
  for (std::size_t i = 0; i < c.documents.size(); ++i) {
    if (!is_val[i]) train_docs.push_back(c.documents[i]);
  }
  tok.fit(train_docs);
  train_docs.clear();
  if (static_cast<std::int64_t>(tok.vocab_size()) > io::kTokenFileMaxVocab) {
    throw Error("the character vocabulary has " + std::to_string(tok.vocab_size()) +
                " tokens, more than the " + std::to_string(io::kTokenFileMaxVocab) +
                " a token file's uint16 ids hold; limit it with --max-vocab");
  }
  Encoded e;
  e.kind = io::TokenizerKind::chars;
  e.vocab_size = static_cast<std::int64_t>(tok.vocab_size());
  e.eot_id = *tok.special_token_id(kEndOfText);
  const std::optional<text::TokenId> unk = tok.special_token_id(kUnknown);
  std::vector<std::vector<text::TokenId>> ids(c.documents.size());
  parallel_for(0, static_cast<std::int64_t>(ids.size()), 64, [&](std::int64_t b, std::int64_t end) {
    for (std::int64_t i = b; i < end; ++i) {
      const auto u = static_cast<std::size_t>(i);
      ids[u] = tok.encode(c.documents[u]);
    }
  });
  for (std::size_t i = 0; i < ids.size(); ++i) append_document(is_val[i] ? e.val : e.train, ids[i], e, unk);
  e.chars = std::move(tok);
  return e;
}

// ---- writing ----------------------------------------------------------------------------------

std::string with_commas(std::uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

void write_manifest(const fs::path& path, const PrepareOptions& o, const Corpus& c, const Encoded& e) {
  nlohmann::ordered_json j;
  j["format"] = "llm.c token file, version 1 (uint16 ids; kiln header slots 3-4: vocab size, tokenizer)";
  j["tokenizer"] = io::tokenizer_kind_name(e.kind);
  j["vocab_size"] = e.vocab_size;
  j["eot_id"] = e.eot_id;
  // No directory recorded: the built-in vocabulary (readers fall back to it).
  if (e.kind == io::TokenizerKind::gpt2) {
    if (const auto dir = gpt2_dir(o)) j["gpt2_vocab_dir"] = fs::absolute(*dir).string();
  }
  if (e.chars) {
    j["char_vocab"] = kCharVocabFile;
    j["unk_id"] = *e.chars->special_token_id(kUnknown);
  }
  j["documents"] = o.split_fortunes || !o.source.empty() ? "fortune entries"
                   : o.split_lines                      ? "lines"
                                                        : "files";
  j["files"] = {{"train", "train.bin"}, {"val", "val.bin"}};
  j["train"] = {{"documents", e.train.documents}, {"tokens", e.train.tokens.size()}};
  j["val"] = {{"documents", e.val.documents}, {"tokens", e.val.tokens.size()}};
  if (e.chars) {
    j["train"]["unknown_chars"] = e.train.unknown;
    j["val"]["unknown_chars"] = e.val.unknown;
  }
  j["val_fraction"] = o.val_fraction;
  j["seed"] = o.seed;
  j["text_bytes"] = c.bytes;
  if (!o.source.empty()) j["source"] = o.source;
  j["source_files"] = c.sources;
  const std::string text = j.dump(2) + "\n";
  io::write_file_atomically(path, {std::as_bytes(std::span(text.data(), text.size()))}, "data manifest");
}

fs::path output_dir(const PrepareOptions& o) {
  if (!o.output_dir.empty()) return o.output_dir;
  const std::string name = o.source.empty() ? "input" : o.source;
  return fs::path("data") / (name + "-" + o.tokenizer);
}

void run_prepare(const PrepareOptions& o) {
  if (o.inputs.empty() == o.source.empty()) throw Error("data prepare: give either --input FILE... or --source NAME");
  if (o.split_lines && o.split_fortunes) throw Error("--split-lines and --split-fortunes cannot be used together");
  if (!o.source.empty() && (o.split_lines || o.split_fortunes || o.strip_ansi)) {
    throw Error("--split-lines, --split-fortunes and --strip-ansi go with --input; --source " + o.source +
                " always reads fortune entries without colour codes");
  }
  if (o.tokenizer != "gpt2" && !o.vocab_dir.empty()) throw Error("--vocab goes with --tokenizer gpt2");
  if (o.tokenizer != "char" && o.max_vocab > 0) throw Error("--max-vocab goes with --tokenizer char");
  if (!(o.val_fraction >= 0.0 && o.val_fraction < 1.0)) {
    char f[32];
    std::snprintf(f, sizeof f, "%g", o.val_fraction);
    throw Error(std::string("--val-fraction must be in [0, 1), got ") + f);
  }
  set_num_threads(o.threads);
  const auto start = std::chrono::steady_clock::now();

  const Corpus corpus = o.source.empty() ? read_input_files(o) : read_source(o.source);
  if (corpus.documents.empty()) throw Error("data prepare: the inputs hold no text (every document is empty)");
  const std::vector<bool> is_val = choose_validation(corpus.documents.size(), o.val_fraction, o.seed);
  const Encoded e = o.tokenizer == "gpt2" ? encode_gpt2(corpus, is_val, o) : encode_chars(corpus, is_val, o);

  const fs::path dir = output_dir(o);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("output directory '" + dir.string() + "': cannot create: " + ec.message());
  const io::TokenFileInfo info{.vocab_size = e.vocab_size, .tokenizer = e.kind};
  io::write_token_file(dir / "train.bin", e.train.tokens, info);
  io::write_token_file(dir / "val.bin", e.val.tokens, info);
  if (e.chars) e.chars->save((dir / kCharVocabFile).string());
  write_manifest(dir / "manifest.json", o, corpus, e);  // last: its presence means the set is whole
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::uint64_t total = e.train.tokens.size() + e.val.tokens.size();
  Table t({"", "documents", "tokens"}, {false, true, true});
  t.add({"train", with_commas(e.train.documents), with_commas(e.train.tokens.size())});
  t.add({"val", with_commas(e.val.documents), with_commas(e.val.tokens.size())});
  t.add({"total", with_commas(e.train.documents + e.val.documents), with_commas(total)});
  std::cout << "read " << with_commas(corpus.bytes) << " bytes of text from " << corpus.sources.size() << " file"
            << (corpus.sources.size() == 1 ? "" : "s") << "\n";
  t.print(std::cout);
  std::cout << "vocabulary " << with_commas(static_cast<std::uint64_t>(e.vocab_size)) << " ("
            << io::tokenizer_kind_name(e.kind) << ", end-of-text id " << e.eot_id << ")\n";
  if (e.chars && e.train.unknown + e.val.unknown > 0) {
    std::cout << "characters outside the vocabulary (as " << kUnknown << "): train " << with_commas(e.train.unknown)
              << ", val " << with_commas(e.val.unknown) << "\n";
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f", seconds);
  const double rate = seconds > 0 ? static_cast<double>(total) / seconds : 0.0;
  std::cout << "time " << secs << " s, " << with_commas(static_cast<std::uint64_t>(std::llround(rate))) << " tokens/s\n"
            << "wrote " << (dir / "train.bin").string() << ", " << (dir / "val.bin").string()
            << (e.chars ? ", " + (dir / kCharVocabFile).string() : std::string()) << ", "
            << (dir / "manifest.json").string() << "\n";
}

}  // namespace

void add_data_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("data", "Prepare token files for language-model training");
  cmd->require_subcommand(1);
  auto o = std::make_shared<PrepareOptions>();
  o->threads = num_threads();
  CLI::App* sub = cmd->add_subcommand(
      "prepare", "Tokenize text into train.bin and val.bin (llm.c's token file layout) with a manifest.json");
  sub->add_option("--input", o->inputs, "Text files; each is one document unless split ('-': standard input)")
      ->default_str("none");
  sub->add_option("--source", o->source,
                  "A packaged corpus: 'fortunes' (the English fortune files) or 'fortunes-zh' (Tang poems and "
                  "Song lyrics), one document per entry")
      ->check(CLI::IsMember({"fortunes", "fortunes-zh"}))
      ->default_str("none");
  sub->add_flag("--split-lines", o->split_lines, "Each non-empty line of an input is a document");
  sub->add_flag("--split-fortunes", o->split_fortunes, "Each input is a fortune file: entries split on '%' lines");
  sub->add_flag("--strip-ansi", o->strip_ansi, "Remove ANSI colour codes (ESC [ ... m) from the inputs");
  sub->add_option("--tokenizer", o->tokenizer,
                  "'gpt2' (GPT-2's byte-level BPE) or 'char' (a character vocabulary built from the training "
                  "documents, saved as " + std::string(kCharVocabFile) + ")")
      ->check(CLI::IsMember({"gpt2", "char"}));
  sub->add_option("--vocab", o->vocab_dir, "Directory holding GPT-2's encoder.json and vocab.bpe (with gpt2; default: the vocabulary built into kiln)")
      ->default_str("$KILN_GPT2_DIR, else built in");
  sub->add_option("--max-vocab", o->max_vocab, "Keep only the most frequent characters (with char; 0: all)")
      ->check(kNonNegative);
  sub->add_option("--output-dir", o->output_dir, "Where train.bin, val.bin and manifest.json go")
      ->default_str("data/<source or input>-<tokenizer>");
  sub->add_option("--val-fraction", o->val_fraction, "Share of documents held out for val.bin")->check(kNonNegative);
  sub->add_option("--seed", o->seed, "Seeds which documents are held out");
  sub->add_option("--threads", o->threads, "CPU threads (the default comes from KILN_NUM_THREADS, else all cores)")
      ->check(kPositive);
  sub->callback([o] { run_prepare(*o); });
}

}  // namespace kiln::cli
