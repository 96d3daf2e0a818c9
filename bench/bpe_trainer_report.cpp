// Trains kiln's byte-level BPE on 90% of a set of fortune files and reports how
// well it compresses the held-out 10%, next to GPT-2's vocabulary. Used by
// bench/bpe_trainer_report.sh:
//   bench_bpe_report [--vocab-size N (8192)] [--min-frequency N (2)] [--special TOKEN (<|endoftext|>)]
//                    [--gpt2-dir DIR (tests/fixtures/text)] [--out DIR (.)] [--max-entries N (0 = all)] FILE...
// The split is by entry and deterministic: entries are numbered across the
// files in the order given, and every tenth (numbers 9, 19, 29, ...) is held out.
// The trained tokenizer is saved as DIR/tokenizer.json and loaded back; the
// program fails (exit 1) unless the reloaded tokenizer encodes every held-out
// entry exactly as the in-memory one does and both decode back to the entry.
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kiln/io/fortunes.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/bpe_trainer.h"

namespace {

struct Args {
  std::size_t vocab_size = 8192;
  std::int64_t min_frequency = 2;
  std::vector<std::string> special = {"<|endoftext|>"};
  std::string gpt2_dir = "tests/fixtures/text";
  std::string out = ".";
  std::size_t max_entries = 0;
  std::vector<std::string> files;
};

std::size_t total_bytes(const std::vector<std::string>& texts) {
  std::size_t n = 0;
  for (const auto& t : texts) n += t.size();
  return n;
}

std::size_t total_tokens(const std::vector<std::vector<kiln::text::TokenId>>& ids) {
  std::size_t n = 0;
  for (const auto& v : ids) n += v.size();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Trains kiln's byte-level BPE on 90% of fortune files and reports bytes per token on the rest",
               "bench_bpe_report"};
  app.add_option("--vocab-size", a.vocab_size, "vocabulary size")->check(CLI::Range(1, 1 << 24))->capture_default_str();
  app.add_option("--min-frequency", a.min_frequency, "least count of a pair worth merging")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--special", a.special, "special tokens (repeat the option for several)")->capture_default_str();
  app.add_option("--gpt2-dir", a.gpt2_dir, "directory with GPT-2's encoder.json and vocab.bpe")->capture_default_str();
  app.add_option("--out", a.out, "directory for the trained tokenizer.json")->capture_default_str();
  app.add_option("--max-entries", a.max_entries, "use only the first N entries (0: all)")->capture_default_str();
  app.add_option("files", a.files, "fortune files")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<std::string> train, held;
    std::size_t k = 0;
    for (const auto& f : a.files) {
      kiln::io::FortuneReader reader(f);
      kiln::io::Fortune entry;
      while (reader.next(entry) && (a.max_entries == 0 || k < a.max_entries)) {
        (k % 10 == 9 ? held : train).push_back(std::move(entry.text));
        ++k;
      }
    }
    if (held.empty()) throw std::runtime_error("fewer than 10 entries: nothing to hold out");
    std::printf("corpus: %zu files, %zu entries: %zu training (%zu bytes), %zu held out (%zu bytes)\n",
                a.files.size(), k, train.size(), total_bytes(train), held.size(), total_bytes(held));

    kiln::text::BpeTrainerOptions opt;
    opt.vocab_size = a.vocab_size;
    opt.min_frequency = a.min_frequency;
    opt.special_tokens = a.special;
    kiln::text::BpeTrainer trainer(opt);
    const auto t0 = std::chrono::steady_clock::now();
    trainer.feed(train);
    const kiln::text::BpeTokenizer trained = trainer.train();
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("trained: vocabulary %zu (%zu merges, %zu special, min frequency %lld) from %zu distinct words in %.2f s\n",
                trained.vocab_size(), trained.model().merges.size(), a.special.size(),
                static_cast<long long>(a.min_frequency), trainer.distinct_words(), train_s);

    const std::string path = (std::filesystem::path(a.out) / "tokenizer.json").string();
    trained.save_tokenizer_json(path);
    const kiln::text::BpeTokenizer reloaded = kiln::text::BpeTokenizer::from_tokenizer_json(path);
    std::printf("saved and reloaded: %s\n", path.c_str());

    const auto mem_ids = trained.encode_batch(held);
    const auto file_ids = reloaded.encode_batch(held);
    std::size_t differ = 0, bad_decode = 0;
    for (std::size_t i = 0; i < held.size(); ++i) {
      if (mem_ids[i] != file_ids[i]) {
        if (differ++ < 3) std::printf("  MISMATCH on held-out entry %zu\n", i);
      }
      if (trained.decode(mem_ids[i]) != held[i] || reloaded.decode(file_ids[i]) != held[i]) ++bad_decode;
    }
    std::printf("reload check: %zu of %zu held-out entries encode identically (%zu tokens); %zu fail to decode back\n",
                held.size() - differ, held.size(), total_tokens(mem_ids), bad_decode);

    const kiln::text::BpeTokenizer gpt2 =
        kiln::text::BpeTokenizer::from_gpt2_files(a.gpt2_dir + "/encoder.json", a.gpt2_dir + "/vocab.bpe");
    const auto gpt2_ids = gpt2.encode_batch(held);
    const auto train_ids = trained.encode_batch(train);

    const double held_bytes = static_cast<double>(total_bytes(held));
    std::printf("\n%-28s %10s %16s %12s\n", "tokenizer", "vocab", "held-out tokens", "bytes/token");
    std::printf("%-28s %10zu %16zu %12.3f\n", "kiln BPE (trained here)", trained.vocab_size(), total_tokens(mem_ids),
                held_bytes / static_cast<double>(total_tokens(mem_ids)));
    std::printf("%-28s %10zu %16zu %12.3f\n", "GPT-2", gpt2.vocab_size(), total_tokens(gpt2_ids),
                held_bytes / static_cast<double>(total_tokens(gpt2_ids)));
    std::printf("(kiln BPE on its own training 90%%: %.3f bytes/token)\n",
                static_cast<double>(total_bytes(train)) / static_cast<double>(total_tokens(train_ids)));
    if (differ != 0 || bad_decode != 0) {
      std::fprintf(stderr, "error: the reloaded tokenizer.json does not reproduce the in-memory tokenizer\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
