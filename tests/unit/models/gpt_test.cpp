// GPT against the Hugging Face tiny-gpt2 fixtures (tests/fixtures, computed by
// transformers' own GPT2LMHeadModel and a 5-step torch AdamW run), plus the
// model's checks on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kiln/io/safetensors.h"
#include "kiln/models/gpt.h"
#include "kiln/models/gpt_hf.h"
#include "kiln/ops/ops.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/clip_grad.h"

namespace kiln::models {
namespace {

const std::string kFixtures = KILN_FIXTURES_DIR;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  return max(abs(sub(a.to(DType::f64), b.to(DType::f64)))).item();
}

std::unique_ptr<Gpt> tiny(Generator& gen) { return load_hf_gpt2(kFixtures + "/tiny-gpt2", gen); }

TEST(GptHf, LogitsAndHiddenStatesMatchTransformers) {
  Generator gen(1);
  auto model = tiny(gen);
  model->eval();
  const auto want = io::SafetensorsFile::open(kFixtures + "/tiny-gpt2-expected.safetensors");
  const Tensor ids = want.tensor("input_ids");
  NoGradGuard no_grad;
  EXPECT_LE(max_abs_diff(model->logits(ids), want.tensor("logits")), 1e-4);
  EXPECT_LE(max_abs_diff(model->hidden(ids), want.tensor("hidden_2")), 1e-4);
}

// Greedy decoding picks, at every step, the argmax of Hugging Face's own
// logits for that prefix. (The fixture's stored greedy_output disagrees with
// its stored logits from the first new token on: transformers' logits for
// input_ids row 0 — the greedy prompt — put token 5736 on top after the
// prompt, its greedy_output says 27854; reported, not papered over.)
TEST(GptHf, GreedyTokensFollowTransformersLogits) {
  Generator gen(1);
  auto model = tiny(gen);
  model->eval();
  const auto want = io::SafetensorsFile::open(kFixtures + "/tiny-gpt2-expected.safetensors");
  const Tensor ids = want.tensor("input_ids"), logits = want.tensor("logits");
  for (std::int64_t r = 0; r < ids.size(0); ++r) {
    for (std::int64_t t = 1; t <= ids.size(1); ++t) {
      const Tensor prefix = ids.slice(0, r, r + 1).slice(1, 0, t).contiguous();
      const Tensor got = generate_greedy(*model, prefix, 1);
      const std::int64_t expected = argmax(logits.slice(0, r, r + 1).slice(1, t - 1, t).reshape({-1}), 0).item();
      EXPECT_EQ(got.to_vector<std::int64_t>().back(), expected) << "row " << r << ", prefix of " << t;
    }
  }
  // Sixteen tokens in one call agree with one-token calls on the growing prefix.
  const Tensor prompt = want.tensor("greedy_prompt");
  const Tensor sixteen = generate_greedy(*model, prompt, 16);
  Tensor stepwise = prompt;
  for (int i = 0; i < 16; ++i) stepwise = generate_greedy(*model, stepwise, 1);
  EXPECT_EQ(sixteen.to_vector<std::int64_t>(), stepwise.to_vector<std::int64_t>());
}

// Hugging Face's name and layout of one of our parameters.
Tensor to_hf_layout(const std::string& name, const Tensor& p) {
  const bool conv1d = name.ends_with("c_attn.weight") || name.ends_with("c_proj.weight") || name.ends_with("c_fc.weight");
  return conv1d ? p.t() : p;
}

TEST(GptHf, FiveAdamWStepsReproduceTorch) {
  std::ifstream in(kFixtures + "/tiny-gpt2-train-expected.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto want = io::SafetensorsFile::open(kFixtures + "/tiny-gpt2-train-expected.safetensors");
  Generator gen(1);
  auto model = tiny(gen);
  // In f64, as the reference was computed: in f32 a handful of weights whose
  // gradient is near AdamW's eps move by a few 1e-5 on rounding alone.
  model->to_dtype_(DType::f64);
  model->train();
  std::vector<Tensor> decay, no_decay;
  for (const auto& [name, p] : model->named_parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  optim::AdamW opt({{.params = decay, .weight_decay = j["weight_decay"]["params_with_dim>=2"].get<double>()},
                    {.params = no_decay, .weight_decay = j["weight_decay"]["others"].get<double>()}},
                   {.lr = j["lr"].get<double>(), .beta1 = j["betas"][0].get<double>(),
                    .beta2 = j["betas"][1].get<double>(), .eps = j["eps"].get<double>()});
  const Tensor data = want.tensor("data");
  const std::int64_t T = j["seq_len"].get<std::int64_t>();
  const auto& losses = j["losses"];
  const auto& norms = j["grad_norms_before_clip"];
  ASSERT_EQ(static_cast<std::int64_t>(losses.size()), data.size(0));
  for (std::int64_t s = 0; s < data.size(0); ++s) {
    const Tensor batch = data.slice(0, s, s + 1).squeeze(0);
    const Tensor loss = model->loss(batch.slice(1, 0, T).contiguous(), batch.slice(1, 1, T + 1).contiguous());
    EXPECT_NEAR(loss.item(), losses[s].get<double>(), 1e-4) << "step " << s;
    opt.zero_grad();
    loss.backward();
    const double norm = optim::clip_grad_norm_(model->parameters(), j["grad_clip_global_norm"].get<double>());
    EXPECT_NEAR(norm, norms[s].get<double>(), 1e-4) << "step " << s;
    opt.step();
  }
  for (const auto& [name, p] : model->named_parameters()) {
    if (name == "wte.weight") {
      const Tensor rows = want.tensor("final.transformer.wte.weight.row_ids");
      EXPECT_LE(max_abs_diff(index_select(p, 0, rows), want.tensor("final.transformer.wte.weight.rows")), 1e-5);
      continue;
    }
    EXPECT_LE(max_abs_diff(to_hf_layout(name, p), want.tensor("final.transformer." + name)), 1e-5) << name;
  }
}

TEST(Gpt, ShapesDisagreeingWithCheckpointNameTensorAndShapes) {
  Generator gen(1);
  GptConfig c = gpt2_tiny();
  c.n_embd = 48;
  Gpt model(c, gen);
  try {
    model.load_state_dict(read_hf_gpt2_weights(kFixtures + "/tiny-gpt2/model.safetensors"));
    FAIL() << "loaded a checkpoint of other sizes";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("wte.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[50257, 48]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[50257, 32]"), std::string::npos) << msg;
  }
}

TEST(Gpt, SequenceAboveContextIsRefused) {
  Generator gen(1);
  Gpt model(gpt2_tiny(), gen);
  const Tensor ids = Tensor::zeros({1, 65}, DType::i64);
  try {
    model.hidden(ids);
    FAIL() << "accepted 65 positions with a context of 64";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("65"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
  }
}

TEST(Gpt, ConfigChecksAndFlops) {
  GptConfig c = gpt2_small();
  EXPECT_NEAR(static_cast<double>(c.num_parameters()), 124439808.0, 0.5);  // GPT-2 small's well-known count
  c.n_head = 7;
  EXPECT_THROW(c.validate(), Error);
  EXPECT_THROW(gpt_preset("gpt5"), Error);
  EXPECT_GT(gpt2_small().train_flops_per_token(1024), gpt2_small().train_flops_per_token(64));
}

}  // namespace
}  // namespace kiln::models
