#include "kiln/text/wordpiece.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "text_fixtures.h"

namespace kiln::text {
namespace {

using testing::fixture;
using testing::temp_path;
using S = std::vector<std::string>;

const WordPieceTokenizer& bert() {
  static const WordPieceTokenizer tok = WordPieceTokenizer::from_vocab_file(fixture("bert_vocab.txt"));
  return tok;
}

TEST(BertBasic, NormalizesAndSplits) {
  EXPECT_EQ(bert_basic_tokenize("Hello, World!"), (S{"hello", ",", "world", "!"}));
  EXPECT_EQ(bert_basic_tokenize("Café ÅNGSTRÖM"), (S{"cafe", "angstrom"}));
  EXPECT_EQ(bert_basic_tokenize("中国人abc"), (S{"中", "国", "人", "abc"}));
  // \x00 and U+200B (Cf) are removed; tabs, newlines and U+3000 split words.
  using namespace std::literals;
  EXPECT_EQ(bert_basic_tokenize("a\x00" "b\u200bc\td\ne\u3000f"sv), (S{"abc", "d", "e", "f"}));
  EXPECT_EQ(bert_basic_tokenize("x—y¿z"), (S{"x", "—", "y", "¿", "z"}));
  BertBasicOptions cased;
  cased.lowercase = false;
  EXPECT_EQ(bert_basic_tokenize("Café Déjà", cased), (S{"Café", "Déjà"}));
  cased.strip_accents = true;
  EXPECT_EQ(bert_basic_tokenize("Café Déjà", cased), (S{"Cafe", "Deja"}));
}

TEST(WordPiece, GreedyLongestMatchFirst) {
  EXPECT_EQ(bert().tokenize("The quick brown fox jumps over the lazy dog."),
            (S{"the", "quick", "brown", "fox", "jump", "##s", "over", "the", "lazy", "dog", "."}));
  EXPECT_EQ(bert().tokenize("UNAFFABLE running"), (S{"un", "##aff", "##able", "run", "##n", "##ing"}));
  EXPECT_EQ(bert().tokenize("Café 中国人"), (S{"cafe", "中", "国", "[UNK]"}));
  // A word that cannot be fully covered is one [UNK], not a partial split.
  EXPECT_EQ(bert().tokenize("jumpz don't"), (S{"[UNK]", "don", "'", "t"}));
}

TEST(WordPiece, MaxInputCharsPerWord) {
  EXPECT_EQ(bert().tokenize(std::string(100, 'a')).size(), 100u);
  EXPECT_EQ(bert().tokenize(std::string(101, 'a')), (S{"[UNK]"}));
}

TEST(WordPiece, InvalidUtf8BytesBecomeUnknownTokens) {
  EXPECT_EQ(bert().tokenize("hello\xff\xfeworld"), (S{"hello", "[UNK]", "[UNK]", "world"}));
  EXPECT_EQ(bert().tokenize("caf\xc3"), (S{"[UNK]", "[UNK]"}));  // "caf" is not in the vocabulary
  EXPECT_EQ(bert().tokenize("\xe4\xb8 dog"), (S{"[UNK]", "[UNK]", "dog"}));
}

TEST(WordPiece, SpecialTokensAndModelInputs) {
  const auto cls = *bert().token_to_id("[CLS]");
  const auto sep = *bert().token_to_id("[SEP]");
  const auto hello = *bert().token_to_id("hello");
  const auto world = *bert().token_to_id("world");
  EXPECT_EQ(bert().encode("[CLS] hello [SEP]", AllowedSpecial::all()), (std::vector<TokenId>{cls, hello, sep}));
  // Not allowed: "[CLS]" is text, split into '[', 'cls', ']' (all unknown here).
  EXPECT_EQ(bert().encode("[CLS]").size(), 3u);
  EXPECT_THROW(bert().encode("x", AllowedSpecial{"<s>"}), Error);
  const BertEncoding enc = bert().encode_for_model("Hello", std::string_view("world!"));
  EXPECT_EQ(enc.ids, (std::vector<TokenId>{cls, hello, sep, world, *bert().token_to_id("!"), sep}));
  EXPECT_EQ(enc.token_type_ids, (std::vector<TokenId>{0, 0, 0, 1, 1, 1}));
}

TEST(WordPiece, Decode) {
  const auto ids = bert().encode("the fox jumps", AllowedSpecial::all());
  EXPECT_EQ(bert().decode(ids), "the fox jumps");
  const auto enc = bert().encode_for_model("UNAFFABLE");
  EXPECT_EQ(bert().decode(enc.ids), "[CLS] unaffable [SEP]");
  EXPECT_EQ(bert().decode(enc.ids, /*skip_special=*/true), "unaffable");
  EXPECT_THROW(bert().decode(std::vector<TokenId>{1000}), Error);
}

TEST(WordPiece, VocabFileErrors) {
  const std::string path = temp_path("bad_vocab.txt");
  std::ofstream(path, std::ios::binary) << "[UNK]\nok\nbad\xff\n";
  try {
    WordPieceTokenizer::from_vocab_file(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":3:"), std::string::npos) << e.what();
  }
  std::ofstream(path, std::ios::binary) << "a\nb\n";
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file(path), Error);  // no [UNK]
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file(temp_path("missing_vocab.txt")), Error);
}

}  // namespace
}  // namespace kiln::text
