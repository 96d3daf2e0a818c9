// Cross-checks the Unicode handling (categories, NFD, lowercasing incl.
// Final_Sigma, CJK and punctuation rules) against Python reference output;
// see tests/fixtures/text/gen_unicode_cases.py.
#include <gtest/gtest.h>

#include "kiln/text/bert_basic.h"
#include "kiln/text/keras_tokenizer.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

TEST(UnicodeCases, BertBasicAndKerasWordsMatchPython) {
  const auto cases = testing::read_jsonl(testing::fixture("unicode_cases.jsonl"));
  ASSERT_FALSE(cases.empty()) << "no cases in unicode_cases.jsonl";
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(bert_basic_tokenize(text), c["bert_basic"].get<std::vector<std::string>>()) << text;
    EXPECT_EQ(text_to_word_sequence(text), c["keras_words"].get<std::vector<std::string>>()) << text;
  }
}

}  // namespace
}  // namespace kiln::text
