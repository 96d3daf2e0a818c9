#include "kiln/train/pretrained_classifier.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/models/bert_hf.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/ops/ops.h"
#include "kiln/text/gpt2_builtin.h"
#include "kiln/text/load_tokenizer.h"
#include "kiln/text/wordpiece.h"

namespace kiln::train {

namespace fs = std::filesystem;

PaddedTextClassifier::PaddedTextClassifier(std::shared_ptr<models::TextClassifier> classifier, std::int64_t pad_id)
    : classifier_(register_module("classifier", std::move(classifier))), pad_id_(pad_id) {}

Tensor PaddedTextClassifier::forward(const Tensor& ids) {
  if (ids.dim() != 2 || ids.dtype() != DType::i64) {
    throw Error("text classifier: expected token ids i64 [batch, length], got " + ids.str());
  }
  // Columns after the longest row's last real token are padding in every row:
  // dropping them changes no output (BERT masks them, GPT reads the last real
  // token) and saves their compute, as dynamic padding does.
  const std::int64_t B = ids.size(0), T = ids.size(1);
  const std::vector<std::int64_t> v = ids.contiguous().to_vector<std::int64_t>();
  std::int64_t used = 1;
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t t = T; t > used; --t) {
      if (v[static_cast<std::size_t>(b * T + t - 1)] != pad_id_) {
        used = t;
        break;
      }
    }
  }
  const Tensor x = used == T ? ids : ids.slice(1, 0, used).contiguous();
  return classifier_->forward(x, ne(x, Tensor::scalar(static_cast<double>(pad_id_), DType::i64)));
}

namespace {

std::string model_type_of(const fs::path& dir) {
  const fs::path config = dir / "config.json";
  std::ifstream in(config);
  if (!in) throw Error("pretrained model '" + dir.string() + "': no config.json (a Hugging Face model directory, e.g. a BERT run's hf/)");
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    return j.value("model_type", "");
  } catch (const nlohmann::json::exception& e) {
    throw Error(config.string() + ": not JSON: " + e.what());
  }
}

}  // namespace

PretrainedClassifier load_pretrained_classifier(const PretrainedClassifierOptions& o, Generator& gen) {
  const std::string type = model_type_of(o.dir);
  PretrainedClassifier out;
  std::shared_ptr<models::TextClassifier> classifier;
  const std::string origin = (o.from_scratch ? "random weights shaped like " : "") + o.dir.string();
  if (type == "bert") {
    const fs::path vocab = o.dir / "vocab.txt";
    if (!fs::exists(vocab)) throw Error("pretrained BERT '" + o.dir.string() + "': no vocab.txt beside config.json");
    auto tok = std::make_shared<const text::WordPieceTokenizer>(text::WordPieceTokenizer::from_vocab_file(vocab.string()));
    std::shared_ptr<models::Bert> body;
    if (o.from_scratch) {
      body = std::make_shared<models::Bert>(models::read_hf_bert_config(o.dir / "config.json"), gen);
    } else {
      body = models::load_hf_bert(o.dir, gen);
    }
    if (body->config().vocab_size < static_cast<std::int64_t>(tok->vocab_size())) {
      throw Error("pretrained BERT '" + o.dir.string() + "': vocab.txt holds " + std::to_string(tok->vocab_size()) +
                  " tokens, more than the model's vocab_size " + std::to_string(body->config().vocab_size));
    }
    out.max_positions = body->config().max_position_embeddings;
    out.description = "BERT from " + origin + " (" + body->config().str() + ")";
    classifier = std::make_shared<models::TextClassifier>(body, o.num_classes, gen, o.dropout);
    const auto pad = tok->token_to_id(tok->options().pad_token);
    if (!pad) throw Error("pretrained BERT '" + o.dir.string() + "': vocab.txt has no " + tok->options().pad_token);
    out.pad_id = *pad;
    out.encode = [tok](const std::string& text, std::int64_t max_len) {
      const std::vector<text::TokenId> pieces = tok->encode(text);
      std::vector<std::int64_t> ids;
      ids.push_back(*tok->token_to_id(tok->options().cls_token));
      const auto room = static_cast<std::size_t>(std::max<std::int64_t>(0, max_len - 2));
      ids.insert(ids.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(std::min(room, pieces.size())));
      ids.push_back(*tok->token_to_id(tok->options().sep_token));
      return ids;
    };
  } else if (type == "gpt2") {
    const bool own_tokenizer = fs::exists(o.dir / "tokenizer.json") || fs::exists(o.dir / "encoder.json");
    auto tok = std::make_shared<const text::BpeTokenizer>(own_tokenizer ? text::load_tokenizer_path(o.dir.string())
                                                                         : text::load_gpt2_builtin());
    std::shared_ptr<models::Gpt> body;
    if (o.from_scratch) {
      body = std::make_shared<models::Gpt>(models::read_hf_gpt2_config(o.dir / "config.json"), gen);
    } else {
      body = models::load_hf_gpt2(o.dir, gen);
    }
    if (static_cast<std::int64_t>(tok->vocab_size()) > body->config().vocab_size) {
      throw Error("pretrained GPT-2 '" + o.dir.string() + "': its tokenizer" +
                  (own_tokenizer ? "" : " (GPT-2's built-in one: the directory has no tokenizer.json)") + " has " +
                  std::to_string(tok->vocab_size()) + " tokens, more than the model's vocab_size " +
                  std::to_string(body->config().vocab_size));
    }
    out.max_positions = body->config().n_positions;
    out.description = "GPT-2 from " + origin + " (" + body->config().str() + ")";
    classifier = std::make_shared<models::TextClassifier>(body, o.num_classes, gen, o.dropout);
    // GPT-2 has no padding token: rows are padded with <|endoftext|>, which
    // text never encodes to (special tokens are not recognised in it).
    const auto eot = tok->token_to_id("<|endoftext|>");
    out.pad_id = eot ? *eot : body->config().vocab_size - 1;
    out.encode = [tok](const std::string& text, std::int64_t max_len) {
      const std::vector<text::TokenId> pieces = tok->encode(text);
      const auto n = std::min(pieces.size(), static_cast<std::size_t>(std::max<std::int64_t>(1, max_len)));
      std::vector<std::int64_t> ids(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(n));
      if (ids.empty()) ids.push_back(0);  // an empty text still needs one real token
      return ids;
    };
  } else {
    throw Error("pretrained model '" + o.dir.string() + "': config.json model_type '" + type +
                "' is not one kiln fine-tunes (bert, gpt2)");
  }
  if (o.freeze_body) classifier->set_body_trainable(false);
  out.model = std::make_shared<PaddedTextClassifier>(classifier, out.pad_id);
  return out;
}

}  // namespace kiln::train
