#pragma once
// BERT's "basic tokenizer": text normalization and splitting before WordPiece,
// following Hugging Face tokenizers' BertNormalizer + BertPreTokenizer (which
// match transformers' BasicTokenizer for valid text):
//  1. clean text: drop U+0000, U+FFFD and control characters (category C*,
//     except \t \n \r); White_Space characters become ' ';
//  2. put spaces around CJK ideographs so each becomes its own word;
//  3. strip accents: NFD, then drop non-spacing marks (Mn);
//  4. lowercase (full Unicode mappings and the Final_Sigma rule);
//  5. split on whitespace, and make each punctuation character (ASCII
//     punctuation or category P*) a word of its own.
// Bytes that are not valid UTF-8 are kept, each as a word of its own (so
// WordPiece maps each to the unknown token); they are never dropped or merged.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::text {

struct BertBasicOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  /// nullopt: strip accents exactly when lowercasing (BERT's default).
  std::optional<bool> strip_accents;
  bool lowercase = true;
};

/// True for the CJK Unified Ideograph blocks BERT isolates.
bool is_bert_chinese_char(char32_t cp);
/// ASCII punctuation (33-47, 58-64, 91-96, 123-126) or general category P*.
bool is_bert_punctuation(char32_t cp);

/// Steps 1-5 above: the words WordPiece then splits further.
std::vector<std::string> bert_basic_tokenize(std::string_view text, const BertBasicOptions& options = {});

}  // namespace kiln::text
