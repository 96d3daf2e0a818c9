// Fortunes made into BERT pretraining data: sentence splitting, documents and
// masked next-sentence batches drawn reproducibly from a seed.
#include "kiln/train/bert_corpus.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/core/error.h"
#include "kiln/text/wordpiece_trainer.h"

namespace kiln::train {
namespace {

using Strings = std::vector<std::string>;

TEST(BertCorpus, SplitsSentencesAtEndPunctuationBlankLinesAndAttributions) {
  EXPECT_EQ(split_sentences("One. Two!  Three? four"), (Strings{"One.", "Two!", "Three?", "four"}));
  EXPECT_EQ(split_sentences("He said \"stop.\" Then left..."), (Strings{"He said \"stop.\"", "Then left..."}));
  EXPECT_EQ(split_sentences("3.14 is pi. e.g.this stays"), (Strings{"3.14 is pi.", "e.g.this stays"}));
  EXPECT_EQ(split_sentences("A poem line\nnext line\n\nNew stanza"), (Strings{"A poem line\nnext line", "New stanza"}));
  EXPECT_EQ(split_sentences("Be yourself\n\t\t-- Oscar Wilde"), (Strings{"Be yourself", "-- Oscar Wilde"}));
  EXPECT_EQ(split_sentences("  \n "), Strings{});
  EXPECT_EQ(split_sentences(""), Strings{});
}

text::WordPieceTokenizer tokenizer(const Strings& texts) {
  text::WordPieceTrainerOptions o;
  o.vocab_size = 200;
  text::WordPieceTrainer t(o);
  t.feed(texts);
  return t.train();
}

TEST(BertCorpus, BatchesAreReproducibleFromTheSeedAndHoldTheSpecialTokens) {
  const Strings texts = {"The cat sat. The dog ran. A bird flew.", "Rain falls. Snow melts.", "One line only",
                         "Stars shine at night. The moon rises.\n\n-- an astronomer"};
  const text::WordPieceTokenizer tok = tokenizer(texts);
  const BertCorpus corpus(texts, tok);
  EXPECT_EQ(corpus.documents(), 4U);
  Generator g1(7), g2(7);
  const MaskedBatch a = corpus.sample(16, 24, g1), b = corpus.sample(16, 24, g2);
  EXPECT_EQ(a.ids.to_vector<std::int64_t>(), b.ids.to_vector<std::int64_t>());
  EXPECT_EQ(a.mlm_labels.to_vector<std::int64_t>(), b.mlm_labels.to_vector<std::int64_t>());
  ASSERT_EQ(a.ids.size(0), 16);
  EXPECT_LE(a.ids.size(1), 24);
  const auto ids = a.ids.to_vector<std::int64_t>();
  const std::int64_t T = a.ids.size(1);
  for (std::int64_t r = 0; r < 16; ++r) EXPECT_EQ(ids[static_cast<std::size_t>(r * T)], corpus.special().cls);
  for (const std::int64_t l : a.mlm_labels.to_vector<std::int64_t>()) {
    if (l != -100) {
      EXPECT_GE(l, 5);  // never a special token (the trainer puts 5 first)
    }
  }
}

TEST(BertCorpus, RefusesTooFewDocumentsAndAVocabularyWithoutSpecialTokens) {
  const text::WordPieceTokenizer tok = tokenizer({"alpha beta", "gamma"});
  EXPECT_THROW(BertCorpus(Strings{"alpha beta"}, tok), Error);
  EXPECT_THROW(BertCorpus(Strings{"alpha", "   "}, tok), Error);  // the blank text is no document
  const text::WordPieceTokenizer bare({"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "a"});
  EXPECT_NO_THROW(BertCorpus(Strings{"a", "a a"}, bare));
  try {
    const text::WordPieceTokenizer no_mask({"[UNK]", "[CLS]", "[SEP]", "[PAD]", "a"});
    BertCorpus(Strings{"a", "a a"}, no_mask);
    FAIL() << "a vocabulary without [MASK] was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[MASK]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::train
