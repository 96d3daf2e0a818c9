#include "kiln/text/keras_tokenizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using nlohmann::ordered_json;
using testing::fixture;

std::vector<ordered_json> read_ordered_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<ordered_json> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(ordered_json::parse(line));
  }
  return rows;
}

KerasTokenizerConfig config_from(const ordered_json& j) {
  KerasTokenizerConfig c;
  if (j.contains("num_words") && !j["num_words"].is_null()) c.num_words = j["num_words"].get<std::int64_t>();
  if (j.contains("filters")) c.filters = j["filters"].get<std::string>();
  if (j.contains("lower")) c.lower = j["lower"].get<bool>();
  if (j.contains("split")) c.split = j["split"].get<std::string>();
  if (j.contains("char_level")) c.char_level = j["char_level"].get<bool>();
  if (j.contains("oov_token") && !j["oov_token"].is_null()) c.oov_token = j["oov_token"].get<std::string>();
  return c;
}

TEST(KerasTokenizer, ReplaysEveryFixtureCase) {
  const auto cases = read_ordered_jsonl(fixture("keras_tokenizer_cases.jsonl"));
  ASSERT_FALSE(cases.empty()) << "no cases in keras_tokenizer_cases.jsonl";
  int matrices_checked = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c["config"].dump());
    KerasTokenizer tok(config_from(c["config"]));
    const auto fit = c["fit_texts"].get<std::vector<std::string>>();
    tok.fit_on_texts(fit);
    EXPECT_EQ(tok.document_count(), c["document_count"].get<std::int64_t>());

    // word_counts in first-seen order.
    std::vector<std::pair<std::string, std::int64_t>> expected_counts;
    for (const auto& [w, n] : c["word_counts"].items()) expected_counts.emplace_back(w, n.get<std::int64_t>());
    EXPECT_EQ(tok.word_counts(), expected_counts);

    std::unordered_map<std::string, std::int64_t> expected_index;
    for (const auto& [w, i] : c["word_index"].items()) expected_index[w] = i.get<std::int64_t>();
    EXPECT_EQ(tok.word_index(), expected_index);

    const auto texts = c["texts"].get<std::vector<std::string>>();
    EXPECT_EQ(tok.texts_to_sequences(texts), c["sequences"].get<std::vector<std::vector<std::int64_t>>>());

    for (const char* mode : {"binary", "count", "freq", "tfidf"}) {
      const std::string key = std::string("matrix_") + mode;
      if (!c.contains(key)) continue;
      const auto expected = c[key].get<std::vector<std::vector<double>>>();
      const Matrix<double> m = tok.texts_to_matrix(texts, matrix_mode_from_name(mode));
      ASSERT_EQ(m.rows, static_cast<std::int64_t>(expected.size())) << mode;
      double worst = 0.0;
      for (std::int64_t r = 0; r < m.rows; ++r) {
        ASSERT_EQ(m.cols, static_cast<std::int64_t>(expected[static_cast<std::size_t>(r)].size())) << mode;
        for (std::int64_t col = 0; col < m.cols; ++col) {
          worst = std::max(worst, std::abs(m(r, col) - expected[static_cast<std::size_t>(r)][static_cast<std::size_t>(col)]));
        }
      }
      EXPECT_LE(worst, 1e-6) << mode;
      ++matrices_checked;
    }
  }
  EXPECT_GT(matrices_checked, 0) << "no case carries a matrix_* result";
}

TEST(KerasTokenizer, OovTokenThatAlsoOccursKeepsItsRank) {
  KerasTokenizerConfig cfg;
  cfg.char_level = true;
  cfg.oov_token = "?";
  KerasTokenizer tok(cfg);
  tok.fit_on_texts(std::vector<std::string>{"a?b?b"});
  // First-seen order a, ?, b with counts 1, 2, 2 ranks as ?, b, a, so the
  // vocabulary is [?, ?, b, a]: '?' ends at index 2 and index 1 stays unused.
  EXPECT_EQ(tok.word_index().at("?"), 2);
  EXPECT_EQ(tok.word_index().at("b"), 3);
  EXPECT_EQ(tok.word_index().at("a"), 4);
  EXPECT_EQ(tok.texts_to_sequences(std::vector<std::string>{"ax"}), (std::vector<std::vector<std::int64_t>>{{4, 2}}));
  EXPECT_EQ(tok.sequences_to_texts(std::vector<std::vector<std::int64_t>>{{4, 1, 3}}), (std::vector<std::string>{"a ? b"}));
}

TEST(KerasTokenizer, WordSequenceAndErrors) {
  EXPECT_EQ(text_to_word_sequence("Hello, World!!  ÉTÉ\tx"), (std::vector<std::string>{"hello", "world", "été", "x"}));
  EXPECT_EQ(text_to_word_sequence("a--b", "", false, "--"), (std::vector<std::string>{"a", "b"}));
  KerasTokenizerConfig bad;
  bad.split = "";
  EXPECT_THROW(KerasTokenizer{bad}, Error);
  KerasTokenizer tok;
  EXPECT_THROW(tok.texts_to_sequences(std::vector<std::string>{"x"}), Error);
  EXPECT_THROW(tok.fit_on_texts(std::vector<std::string>{"ok", "bad \xff byte"}), Error);
  EXPECT_THROW(matrix_mode_from_name("onehot"), Error);
}

TEST(PadSequences, ReplaysEveryFixtureCase) {
  const auto cases = testing::read_jsonl(fixture("keras_pad_sequences_cases.jsonl"));
  ASSERT_FALSE(cases.empty()) << "no cases in keras_pad_sequences_cases.jsonl";
  for (const auto& c : cases) {
    SCOPED_TRACE(c["args"].dump());
    const auto seqs = c["sequences"].get<std::vector<std::vector<std::int64_t>>>();
    const auto& a = c["args"];
    std::optional<std::int64_t> maxlen;
    if (!a["maxlen"].is_null()) maxlen = a["maxlen"].get<std::int64_t>();
    const auto m = pad_sequences(seqs, maxlen, a["padding"].get<std::string>(), a["truncating"].get<std::string>(),
                                 a["value"].get<std::int64_t>());
    const auto expected = c["expected"].get<std::vector<std::vector<std::int64_t>>>();
    ASSERT_EQ(m.rows, static_cast<std::int64_t>(expected.size()));
    for (std::int64_t r = 0; r < m.rows; ++r) {
      const std::vector<std::int64_t> row(m.values.begin() + r * m.cols, m.values.begin() + (r + 1) * m.cols);
      EXPECT_EQ(row, expected[static_cast<std::size_t>(r)]) << "row " << r;
    }
  }
}

TEST(PadSequences, Errors) {
  const std::vector<std::vector<std::int64_t>> seqs{{1, 2}};
  EXPECT_THROW(pad_sequences(seqs, 3, "middle"), Error);
  EXPECT_THROW(pad_sequences(seqs, 3, "pre", "both"), Error);
  EXPECT_THROW(pad_sequences(seqs, 0), Error);
  EXPECT_THROW(pad_sequences(std::vector<std::vector<std::int64_t>>{}), Error);
}

}  // namespace
}  // namespace kiln::text
