// GPT-2 encoding throughput of kiln's byte-level BPE on one text file.
// Used by bench/tokenizer_throughput.sh; prints one line per thread count:
//   kiln threads=T bytes=B tokens=N runs=R median_mb_s=X min_mb_s=Y max_mb_s=Z cache=cold|warm
// and, when several thread counts are given, one line per further count:
//   kiln_scaling threads=T over=T0 median_ratio=Q min_ratio=.. max_ratio=..
// MB is 10^6 bytes. Each run encodes the whole text with
// kiln::text::encode_texts_parallel (the text cut at token-safe places, the
// pieces spread over T threads); before timing, the ids are checked against a
// plain single-threaded encode of the whole text.
//
// With --threads 1,2 the runs alternate (1, 2, 1, 2, ...) in one process, and
// each ratio compares the two runs of one round: this machine's speed drifts
// by tens of percent from minute to minute (a shared host), and separate
// processes minutes apart would measure the drift, not the scaling.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kiln/core/parallel.h"
#include "kiln/text/bpe_tokenizer.h"
#include "kiln/text/parallel_encode.h"

namespace {

struct Args {
  std::string text;
  std::string gpt2_dir = "tests/fixtures/text";
  std::vector<int> threads = {1};
  int repeat = 5;
  bool warm = false;    // keep the word cache between runs
  std::string ids_out;  // write the ids here, space-separated on one line
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
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
  Args a;
  CLI::App app{"GPT-2 encoding throughput of kiln's byte-level BPE on one text file", "bench_tokenizer"};
  app.add_option("--text", a.text, "UTF-8 text file to encode")->required()->check(CLI::ExistingFile);
  app.add_option("--gpt2-dir", a.gpt2_dir, "directory with encoder.json and vocab.bpe")->capture_default_str();
  app.add_option("--threads", a.threads, "thread counts, comma-separated; runs alternate between them")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--repeat", a.repeat, "runs per thread count")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_flag("--warm-cache", a.warm, "keep the word cache between runs");
  app.add_option("--ids-out", a.ids_out, "write the ids here, space-separated on one line");
  CLI11_PARSE(app, argc, argv);
  try {
    const kiln::text::BpeTokenizer tok =
        kiln::text::BpeTokenizer::from_gpt2_files(a.gpt2_dir + "/encoder.json", a.gpt2_dir + "/vocab.bpe");
    const std::string text = slurp(a.text);
    const std::vector<std::string_view> docs = {text};

    // Correctness first (untimed): the parallel path must give the plain ids.
    const std::vector<kiln::text::TokenId> reference = tok.encode(text);
    for (const int t : a.threads) {
      kiln::set_num_threads(t);
      if (kiln::text::encode_texts_parallel(tok, docs)[0] != reference) {
        std::cerr << "error: parallel encoding on " << t << " threads differs from a plain encode of " << a.text << "\n";
        return 1;
      }
    }

    if (!a.ids_out.empty()) {
      std::ofstream out(a.ids_out, std::ios::binary);
      for (std::size_t i = 0; i < reference.size(); ++i) out << (i ? " " : "") << reference[i];
      out << "\n";
      if (!out) throw std::runtime_error(a.ids_out + ": cannot write");
    }

    std::vector<std::vector<double>> mb_s(a.threads.size());
    for (int r = 0; r < a.repeat; ++r) {
      for (std::size_t k = 0; k < a.threads.size(); ++k) {
        kiln::set_num_threads(a.threads[k]);
        if (!a.warm) tok.clear_cache();
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = kiln::text::encode_texts_parallel(tok, docs);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (ids[0].size() != reference.size()) throw std::runtime_error("token count changed between runs");
        mb_s[k].push_back(static_cast<double>(text.size()) / 1e6 / s);
      }
    }
    for (std::size_t k = 0; k < a.threads.size(); ++k) {
      const auto [lo, hi] = std::minmax_element(mb_s[k].begin(), mb_s[k].end());
      std::printf("kiln threads=%d bytes=%zu tokens=%zu runs=%d median_mb_s=%.3f min_mb_s=%.3f max_mb_s=%.3f cache=%s\n",
                  a.threads[k], text.size(), reference.size(), a.repeat, median(mb_s[k]), *lo, *hi,
                  a.warm ? "warm" : "cold");
    }
    for (std::size_t k = 1; k < a.threads.size(); ++k) {
      std::vector<double> ratio;
      for (int r = 0; r < a.repeat; ++r) ratio.push_back(mb_s[k][r] / mb_s[0][r]);
      const auto [lo, hi] = std::minmax_element(ratio.begin(), ratio.end());
      std::printf("kiln_scaling threads=%d over=%d median_ratio=%.3f min_ratio=%.3f max_ratio=%.3f\n", a.threads[k],
                  a.threads[0], median(ratio), *lo, *hi);
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
