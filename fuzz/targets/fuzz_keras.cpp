// Keras Tokenizer: the first input byte picks the configuration, the rest is
// split into documents at '\n'.
//   bit 0: lower; bit 1: char_level; bit 2: oov_token "<oov>";
//   bit 3: num_words = 5 (else unlimited); bits 4-5: split " ", "a", "é", "ab";
//   bit 6: no filters (else Keras' defaults); bit 7: with bit 3, matrix mode tfidf.
// Documents that are not valid UTF-8 must be rejected with kiln::Error; the
// others are fitted, turned into sequences and matrices, and checked against
// text_to_word_sequence.
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "kiln/text/keras_tokenizer.h"
#include "kiln/text/unicode.h"

using namespace kiln::text;

namespace {

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string> docs;
  std::vector<std::string> invalid;
  for (std::size_t pos = 0; pos <= body.size();) {
    std::size_t eol = body.find('\n', pos);
    if (eol == std::string_view::npos) eol = body.size();
    std::string doc(body.substr(pos, eol - pos));
    (is_valid_utf8(doc) ? docs : invalid).push_back(std::move(doc));
    pos = eol + 1;
  }

  KerasTokenizerConfig c;
  c.lower = (opt & 1) != 0;
  c.char_level = (opt & 2) != 0;
  if (opt & 4) c.oov_token = "<oov>";
  if (opt & 8) c.num_words = 5;
  static const char* const kSplits[] = {" ", "a", "\xc3\xa9", "ab"};
  c.split = kSplits[(opt >> 4) & 3];
  if (opt & 64) c.filters.clear();
  const MatrixMode mode = (opt & 128) ? ((opt & 8) ? MatrixMode::tfidf : MatrixMode::count) : MatrixMode::binary;

  KerasTokenizer tok(c);
  try {
    tok.fit_on_texts(docs);
    const auto seqs = tok.texts_to_sequences(docs);
    const auto& index = tok.word_index();
    const auto max_index = static_cast<std::int64_t>(index.size()) + 1;
    for (const auto& s : seqs) {
      for (const std::int64_t i : s) {
        if (i < 1 || i > max_index) kiln::fuzz::finding("sequence index outside the word index");
      }
    }
    // Without a word limit or an oov token every word comes back.
    if (!c.num_words && !c.oov_token && !c.char_level) {
      const auto texts = tok.sequences_to_texts(seqs);
      for (std::size_t d = 0; d < docs.size(); ++d) {
        if (texts[d] != joined(text_to_word_sequence(docs[d], c.filters, c.lower, c.split))) {
          kiln::fuzz::finding("sequences_to_texts(texts_to_sequences(doc)) differs from the doc's words");
        }
      }
    } else {
      (void)tok.sequences_to_texts(seqs);
    }
    // Keep matrices small: they are rows x (vocabulary + 1) doubles.
    if (docs.size() * static_cast<std::size_t>(max_index) <= (std::size_t{1} << 20)) {
      const Matrix<double> m = tok.texts_to_matrix(docs, mode);
      if (m.rows != static_cast<std::int64_t>(docs.size())) kiln::fuzz::finding("matrix has the wrong row count");
      for (const double v : m.values) {
        if (!std::isfinite(v) || v < 0) kiln::fuzz::finding("matrix entry is negative or not finite");
        if (mode == MatrixMode::binary && v != 0 && v != 1) kiln::fuzz::finding("binary matrix entry is not 0 or 1");
      }
    }
  } catch (const kiln::Error& e) {
    // Expected only without columns (no num_words, nothing fitted) or tfidf without documents.
    const bool expected = (tok.word_index().empty() && !c.num_words) || (mode == MatrixMode::tfidf && docs.empty());
    if (!expected) {
      std::fprintf(stderr, "%s\n", e.what());
      kiln::fuzz::finding("Keras tokenizer threw on valid UTF-8 documents");
    }
  }
  for (const std::string& doc : invalid) {
    bool threw = false;
    try {
      (void)tok.texts_to_sequences(std::vector<std::string>{doc});
    } catch (const kiln::Error&) {
      threw = true;
    }
    if (!threw) {
      // Unfitted tokenizers throw for a different reason; fitted ones must reject the bytes.
      kiln::fuzz::finding("a document that is not valid UTF-8 was accepted");
    }
  }
  return 0;
}
