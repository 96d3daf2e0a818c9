#include <gtest/gtest.h>

#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"
#include "gradcheck.h"

namespace kiln::nn {
namespace {

/// A module with a buffer and a child, like BatchNorm inside a block.
class Block : public Layer {
 public:
  explicit Block(Generator& gen) {
    fc_ = register_module("fc", std::make_shared<Linear>(3, 2, true, gen));
    count_ = register_buffer("count", Tensor::zeros({}, DType::i64));
    scratch_ = register_buffer("scratch", Tensor::zeros({4}), /*persistent=*/false);
  }
  Tensor forward(const Tensor& x) override { return (*fc_)(x); }
  std::string name() const override { return "Block()"; }
  const Tensor& count() const { return count_; }

 private:
  std::shared_ptr<Linear> fc_;
  Tensor count_, scratch_;
};

TEST(StateDict, NamesParametersAndPersistentBuffersInOrder) {
  Generator gen(1);
  Block b(gen);
  const StateDict sd = b.state_dict();
  std::vector<std::string> names;
  for (const auto& [n, t] : sd) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"count", "fc.weight", "fc.bias"}));
  EXPECT_EQ(b.named_buffers().size(), 2U);  // non-persistent buffers are buffers but not state
  EXPECT_EQ(b.parameters().size(), 2U);
}

TEST(StateDict, LoadCopiesInPlaceSoHandlesStayValid) {
  Generator g1(1), g2(2);
  Block a(g1), b(g2);
  const Tensor handle = b.named_parameters()[0].second;  // what an optimizer holds
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(handle.to_vector<float>(), a.named_parameters()[0].second.to_vector<float>());
  EXPECT_EQ(handle.id(), b.named_parameters()[0].second.id());
}

TEST(StateDict, StrictLoadNamesEveryMissingUnexpectedAndMismatchedTensor) {
  Generator gen(1);
  Block b(gen);
  StateDict bad;
  bad.add("fc.weight", Tensor::zeros({2, 4}));          // wrong shape
  bad.add("count", Tensor::zeros({}, DType::f32));      // wrong dtype
  bad.add("fc.extra", Tensor::zeros({1}));              // unexpected
  const std::vector<float> before = b.named_parameters()[0].second.to_vector<float>();
  const std::string msg = test::error_of([&] { b.load_state_dict(bad); });
  test::expect_contains(msg, {"fc.weight (expected f32[2, 3], got f32[2, 4])"});
  test::expect_contains(msg, {"count (expected i64[], got f32[])"});
  test::expect_contains(msg, {"missing: fc.bias"});
  test::expect_contains(msg, {"unexpected: fc.extra"});
  // Nothing was changed.
  EXPECT_EQ(b.named_parameters()[0].second.to_vector<float>(), before);
}

TEST(StateDict, NonStrictLoadSkipsMissingButStillChecksShapes) {
  Generator g1(1), g2(2);
  Block a(g1), b(g2);
  StateDict partial;
  partial.add("fc.bias", a.state_dict().at("fc.bias"));
  partial.add("other", Tensor::zeros({1}));
  b.load_state_dict(partial, /*strict=*/false);
  EXPECT_EQ(b.state_dict().at("fc.bias").to_vector<float>(), a.state_dict().at("fc.bias").to_vector<float>());
  StateDict wrong;
  wrong.add("fc.bias", Tensor::zeros({5}));
  EXPECT_THROW(b.load_state_dict(wrong, false), Error);
}

TEST(StateDict, DuplicateNamesAndPrefixes) {
  StateDict sd;
  sd.add("a.x", Tensor::zeros({1}));
  sd.add("a.y", Tensor::zeros({2}));
  sd.add("b.x", Tensor::zeros({3}));
  EXPECT_THROW(sd.add("a.x", Tensor::zeros({1})), Error);
  const StateDict a = sd.with_prefix_removed("a.");
  EXPECT_EQ(a.size(), 2U);
  EXPECT_EQ(a.at("y").numel(), 2);
  StateDict merged;
  merged.merge(a, "m.");
  EXPECT_TRUE(merged.contains("m.x"));
  test::expect_contains(test::error_of([&] { (void)sd.at("zzz", "file f"); }), {"file f: no tensor named 'zzz'"});
}

TEST(Module, RegisteredNamesAreUniqueAcrossKinds) {
  class Clash : public Layer {
   public:
    Clash() {
      register_parameter("w", Tensor::zeros({1}));
      register_buffer("w", Tensor::zeros({1}));
    }
    Tensor forward(const Tensor& x) override { return x; }
    std::string name() const override { return "Clash()"; }
  };
  test::expect_contains(test::error_of([] { Clash c; }), {"a member named 'w' is already registered"});
}

TEST(Module, SetTrainableFreezesParameters) {
  Generator gen(3);
  Block b(gen);
  b.set_trainable(false);
  EXPECT_EQ(b.num_parameters(true), 0);
  EXPECT_EQ(b.num_parameters(), 8);
  for (const Tensor& p : b.parameters()) EXPECT_FALSE(p.requires_grad());
  b.set_trainable(true);
  EXPECT_EQ(b.num_parameters(true), 8);
}

/// Several inputs and outputs: what Layer cannot express, Module can.
class TwoInTwoOut : public Module {
 public:
  struct Out {
    Tensor sum, product;
  };
  Out forward(const Tensor& a, const Tensor& b) {
    Out o{add(a, b), mul(a, b)};
    record_call({o.sum.shape(), o.product.shape()});
    return o;
  }
  std::string name() const override { return "TwoInTwoOut()"; }
};

TEST(Module, ModulesWithSeveralInputsAndOutputsReportCalls) {
  TwoInTwoOut m;
  CallRecorder rec;
  const auto out = m.forward(Tensor::ones({2, 3}), Tensor::ones({2, 3}));
  EXPECT_EQ(out.sum.to_vector<float>()[0], 2.0F);
  ASSERT_EQ(rec.calls().size(), 1U);
  EXPECT_EQ(rec.calls()[0].output_shapes.size(), 2U);
  EXPECT_EQ(CallRecorder::active(), &rec);
}

TEST(Module, ForEachModuleVisitsDepthFirstWithPaths) {
  Generator gen(4);
  Sequential s{std::make_shared<Block>(gen), std::make_shared<ReLU>()};
  std::vector<std::string> paths;
  s.for_each_module([&](const std::string& p, const Module&) { paths.push_back(p); });
  EXPECT_EQ(paths, (std::vector<std::string>{"", "0", "0.fc", "1"}));
}

}  // namespace
}  // namespace kiln::nn
