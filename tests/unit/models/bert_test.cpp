// BERT against the Hugging Face tiny-bert fixtures (BertForPreTraining,
// computed by transformers): last hidden state, MLM and NSP logits within
// 1e-4 at unmasked positions; export and import round trip bit for bit.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <unistd.h>

#include "kiln/io/safetensors.h"
#include "kiln/models/bert.h"
#include "kiln/models/bert_hf.h"
#include "kiln/ops/ops.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;
const std::string kFixtures = KILN_FIXTURES_DIR;

// max |a - b| over the positions where mask [B, T] is nonzero; a, b [B, T, ...].
double masked_max_diff(const Tensor& a, const Tensor& b, const Tensor& mask) {
  const Tensor d = abs(sub(a.to(DType::f64), b.to(DType::f64)));
  Tensor m = ne(mask, Tensor::scalar(0, mask.dtype())).to(DType::f64);
  while (m.dim() < d.dim()) m = m.unsqueeze(-1);
  return max(mul(d, m)).item();
}

TEST(BertHf, HiddenMlmAndNspMatchTransformers) {
  Generator gen(1);
  bool heads = false;
  const auto model = load_hf_bert(kFixtures + "/tiny-bert", gen, &heads);
  EXPECT_TRUE(heads);
  model->eval();
  const auto want = io::SafetensorsFile::open(kFixtures + "/tiny-bert-expected.safetensors");
  const Tensor ids = want.tensor("input_ids"), types = want.tensor("token_type_ids"), mask = want.tensor("attention_mask");
  NoGradGuard no_grad;
  const BertOutputs out = model->encode(ids, types, mask);
  EXPECT_LT(masked_max_diff(out.hidden, want.tensor("last_hidden"), mask), 1e-4);
  EXPECT_LT(masked_max_diff(model->mlm_logits(out.hidden), want.tensor("mlm_logits"), mask), 1e-4);
  EXPECT_LT(max(abs(sub(model->nsp_logits(out.pooled), want.tensor("nsp_logits")))).item(), 1e-4);
}

TEST(BertHf, ExportAndImportRoundTripBitForBit) {
  Generator gen(2);
  Bert model(bert_tiny(), gen);
  const fs::path dir = fs::temp_directory_path() / ("kiln_bert_export_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  save_hf_bert(model, dir);
  Generator other(77);
  const auto back = load_hf_bert(dir, other);
  const auto a = model.named_parameters(), b = back->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.detach().to_vector<float>(), b[i].second.detach().to_vector<float>()) << a[i].first;
  }
  // The fixture's own tensors come back out under transformers' names.
  Generator g3(3);
  const auto fixture = load_hf_bert(kFixtures + "/tiny-bert", g3);
  save_hf_bert(*fixture, dir);
  const auto original = io::SafetensorsFile::open(kFixtures + "/tiny-bert/model.safetensors");
  const auto saved = io::SafetensorsFile::open(dir / "model.safetensors");
  EXPECT_EQ(saved.entries().size(), original.entries().size());
  for (const auto& e : original.entries()) {
    EXPECT_EQ(saved.tensor(e.name).to_vector<float>(), original.tensor(e.name).to_vector<float>()) << e.name;
  }
  fs::remove_all(dir);
}

TEST(Bert, BadInputNamesTheProblem) {
  Generator gen(4);
  Bert model(bert_tiny(), gen);
  const auto message = [&](const Tensor& ids, const Tensor& types, const Tensor& mask) {
    try {
      model.encode(ids, types, mask);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const Tensor ids = Tensor::from_vector(std::vector<std::int64_t>{1, 2, 3}, {1, 3});
  EXPECT_NE(message(Tensor::from_vector(std::vector<std::int64_t>{1, 600, 3}, {1, 3}), {}, {})
                .find("token id 600 at flat position 1 is outside [0, 512)"),
            std::string::npos);
  EXPECT_NE(message(ids, Tensor::from_vector(std::vector<std::int64_t>{0, 2, 0}, {1, 3}), {}).find("token type 2"),
            std::string::npos);
  EXPECT_NE(message(Tensor::zeros({1, 65}, DType::i64), {}, {}).find("above max_position_embeddings 64"), std::string::npos);
  EXPECT_NE(message(ids, {}, Tensor::ones({1, 4}, DType::i64)).find("attention_mask"), std::string::npos);
  // A config that disagrees with the checkpoint's tensors names the tensor and both shapes.
  BertConfig wide = bert_tiny();
  wide.intermediate_size = 48;
  Bert other(wide, gen);
  try {
    other.load_state_dict(read_hf_bert_weights(kFixtures + "/tiny-bert/model.safetensors"));
    FAIL() << "mismatched shapes accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.layer.0.intermediate.dense.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::models
