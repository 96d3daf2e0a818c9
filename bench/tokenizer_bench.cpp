// GPT-2 encoding throughput of kiln's byte-level BPE on one text file.
// Used by bench/tokenizer_throughput.sh; prints one line:
//   kiln threads=T bytes=B tokens=N runs=R median_mb_s=X min_mb_s=Y max_mb_s=Z cache=cold|warm
// MB is 10^6 bytes. Each run encodes the whole text with
// kiln::text::encode_texts_parallel (the text cut at token-safe places, the
// pieces spread over T threads); before timing, the ids are checked against a
// plain single-threaded encode of the whole text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/core/parallel.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/parallel_encode.h"

namespace {

struct Args {
  std::string text;
  std::string gpt2_dir = "tests/fixtures/text";
  int threads = 1;
  int repeat = 5;
  bool warm = false;  // keep the word cache between runs
  std::string ids_out;  // write the ids here, space-separated on one line
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "error: " << problem << "\n"
            << "usage: bench_tokenizer --text FILE [--gpt2-dir DIR (tests/fixtures/text)] [--threads N (1)]\n"
            << "                       [--repeat N (5)] [--warm-cache] [--ids-out FILE]\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--text") a.text = value();
    else if (k == "--gpt2-dir") a.gpt2_dir = value();
    else if (k == "--threads") a.threads = std::atoi(value().c_str());
    else if (k == "--repeat") a.repeat = std::atoi(value().c_str());
    else if (k == "--warm-cache") a.warm = true;
    else if (k == "--ids-out") a.ids_out = value();
    else usage("unknown argument " + k);
  }
  if (a.text.empty()) usage("--text is required");
  if (a.threads < 1 || a.repeat < 1) usage("--threads and --repeat must be at least 1");
  return a;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    kiln::set_num_threads(a.threads);
    const kiln::text::BpeTokenizer tok =
        kiln::text::BpeTokenizer::from_gpt2_files(a.gpt2_dir + "/encoder.json", a.gpt2_dir + "/vocab.bpe");
    const std::string text = slurp(a.text);
    const std::vector<std::string_view> docs = {text};

    // Correctness first (untimed): the parallel path must give the plain ids.
    const std::vector<kiln::text::TokenId> reference = tok.encode(text);
    if (kiln::text::encode_texts_parallel(tok, docs)[0] != reference) {
      std::cerr << "error: parallel encoding differs from a plain encode of " << a.text << "\n";
      return 1;
    }

    if (!a.ids_out.empty()) {
      std::ofstream out(a.ids_out, std::ios::binary);
      for (std::size_t i = 0; i < reference.size(); ++i) out << (i ? " " : "") << reference[i];
      out << "\n";
      if (!out) throw std::runtime_error(a.ids_out + ": cannot write");
    }

    std::vector<double> mb_s;
    std::size_t tokens = 0;
    for (int r = 0; r < a.repeat; ++r) {
      if (!a.warm) tok.clear_cache();
      const auto t0 = std::chrono::steady_clock::now();
      const auto ids = kiln::text::encode_texts_parallel(tok, docs);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      tokens = ids[0].size();
      mb_s.push_back(static_cast<double>(text.size()) / 1e6 / s);
    }
    std::sort(mb_s.begin(), mb_s.end());
    const double median = mb_s.size() % 2 ? mb_s[mb_s.size() / 2]
                                          : 0.5 * (mb_s[mb_s.size() / 2 - 1] + mb_s[mb_s.size() / 2]);
    std::printf("kiln threads=%d bytes=%zu tokens=%zu runs=%d median_mb_s=%.3f min_mb_s=%.3f max_mb_s=%.3f cache=%s\n",
                a.threads, text.size(), tokens, a.repeat, median, mb_s.front(), mb_s.back(), a.warm ? "warm" : "cold");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
