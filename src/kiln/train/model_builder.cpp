#include "kiln/train/model_builder.h"

#include "kiln/nn/nn.h"
#include "kiln/ops/ops.h"

namespace kiln::train {

namespace {

nn::Init init_from_name(const config::Node& n) {
  const std::string name = n.as_string();
  static const std::pair<const char*, nn::Init> table[] = {
      {"torch", nn::Init::torch_default},       {"glorot_uniform", nn::Init::glorot_uniform},
      {"glorot_normal", nn::Init::glorot_normal}, {"he_uniform", nn::Init::he_uniform},
      {"he_normal", nn::Init::he_normal},       {"lecun_uniform", nn::Init::lecun_uniform},
      {"lecun_normal", nn::Init::lecun_normal}, {"uniform", nn::Init::uniform},
      {"normal", nn::Init::normal},             {"zeros", nn::Init::zeros}};
  std::string known;
  for (const auto& [k, v] : table) {
    if (name == k) return v;
    known += (known.empty() ? "" : ", ") + std::string(k);
  }
  n.fail("unknown initialiser '" + name + "' (available: " + known + ")");
}

std::shared_ptr<nn::Layer> activation_layer(const std::string& name, const config::Node& where) {
  if (name == "relu") return std::make_shared<nn::ReLU>();
  if (name == "sigmoid") return std::make_shared<nn::Sigmoid>();
  if (name == "tanh") return std::make_shared<nn::Tanh>();
  if (name == "gelu") return std::make_shared<nn::GELU>();
  if (name == "silu" || name == "swish") return std::make_shared<nn::SiLU>();
  if (name == "leaky_relu") return std::make_shared<nn::LeakyReLU>();
  if (name == "softmax") return std::make_shared<nn::Softmax>(-1);
  if (name == "linear") return nullptr;
  where.fail("unknown activation '" + name + "' (available: relu, sigmoid, tanh, gelu, silu, leaky_relu, softmax, linear)");
}

nn::Size2d size2d(const config::Node& n) {
  const std::vector<std::int64_t> v = n.as_int_list();
  if (v.size() == 1) return {v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  n.fail("expected one integer or a pair [height, width]");
}

/// The last dimension of the current sample shape, for layers that need it.
std::int64_t features(const Shape& shape, const config::Node& layer, const char* type) {
  if (shape.empty()) layer.fail(std::string(type) + " needs an input with a feature dimension");
  return shape.back();
}

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> types = {
      "dense", "flatten", "dropout", "activation", "relu", "sigmoid", "tanh", "gelu", "softmax",
      "conv2d", "maxpool2d", "avgpool2d", "global_avg_pool2d", "batchnorm", "layernorm", "embedding", "lstm", "gru", "reshape"};
  return types;
}

std::shared_ptr<nn::Sequential> build_sequential(const config::Node& layers, const Shape& input_shape,
                                                 DType input_dtype, Generator& gen) {
  auto model = std::make_shared<nn::Sequential>();
  Shape shape = input_shape;  // one sample, no batch dim
  const auto probe_and_add = [&](const std::shared_ptr<nn::Layer>& layer, const config::Node& where) {
    if (!layer) return;
    // One zero batch of 2 through the new layer tells its output shape.
    Shape batch{2};
    batch.insert(batch.end(), shape.begin(), shape.end());
    NoGradGuard no_grad;
    layer->eval();
    Tensor out;
    try {
      out = layer->forward(Tensor::zeros(batch, input_dtype));
    } catch (const Error& e) {
      where.fail(std::string("does not fit its input (one sample ") + shape_str(shape) + "): " + e.what());
    }
    layer->train();
    shape.assign(out.shape().begin() + 1, out.shape().end());
    input_dtype = out.dtype();
    model->push_back(layer);
  };

  for (const config::Node& l : layers.elements()) {
    const std::string type = l.at("type").as_string();
    if (type == "dense") {
      l.allow_only({"type", "units", "activation", "bias"});
      const std::int64_t units = l.at("units").as_int();
      if (units <= 0) l.at("units").fail("must be positive");
      probe_and_add(std::make_shared<nn::Linear>(features(shape, l, "dense"), units, l.get_bool("bias", true), gen), l);
      if (const auto a = l.find("activation")) probe_and_add(activation_layer(a->as_string(), *a), l);
    } else if (type == "flatten") {
      l.allow_only({"type"});
      probe_and_add(std::make_shared<nn::Flatten>(), l);
    } else if (type == "dropout") {
      l.allow_only({"type", "rate"});
      const double rate = l.at("rate").as_double();
      if (!(rate >= 0.0 && rate < 1.0)) l.at("rate").fail("must be in [0, 1)");
      probe_and_add(std::make_shared<nn::Dropout>(rate), l);
    } else if (type == "activation") {
      l.allow_only({"type", "name"});
      probe_and_add(activation_layer(l.at("name").as_string(), l.at("name")), l);
    } else if (type == "relu" || type == "sigmoid" || type == "tanh" || type == "gelu" || type == "softmax") {
      l.allow_only({"type"});
      probe_and_add(activation_layer(type, l), l);
    } else if (type == "conv2d") {
      l.allow_only({"type", "filters", "kernel_size", "strides", "padding", "dilation", "groups", "bias", "activation",
                    "init"});
      if (shape.size() != 3) l.fail("conv2d needs [channels, height, width] inputs, got one sample " + shape_str(shape));
      nn::Conv2dOptions o{.in_channels = shape[0],
                          .out_channels = l.at("filters").as_int(),
                          .kernel_size = size2d(l.at("kernel_size"))};
      if (const auto s = l.find("strides")) o.stride = size2d(*s);
      if (const auto d = l.find("dilation")) o.dilation = size2d(*d);
      if (const auto p = l.find("padding")) {
        if (p->is_string()) {
          o.padding = nn::Conv2dPadding(p->as_string());
        } else {
          const nn::Size2d s = size2d(*p);
          if (s.h != s.w) p->fail("give one padding for both sides of both axes");
          o.padding = nn::Conv2dPadding(s.h);
        }
      }
      o.groups = l.get_int("groups", 1);
      o.bias = l.get_bool("bias", true);
      if (const auto i = l.find("init")) o.init = init_from_name(*i);
      probe_and_add(std::make_shared<nn::Conv2d>(o, gen), l);
      if (const auto a = l.find("activation")) probe_and_add(activation_layer(a->as_string(), *a), l);
    } else if (type == "maxpool2d" || type == "avgpool2d") {
      l.allow_only({"type", "pool_size", "strides", "padding"});
      const nn::Size2d k = size2d(l.at("pool_size"));
      const nn::Size2d s = l.has("strides") ? size2d(l.at("strides")) : nn::Size2d(0);
      const nn::Size2d p = l.has("padding") ? size2d(l.at("padding")) : nn::Size2d(0);
      if (type == "maxpool2d") {
        probe_and_add(std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions{.kernel_size = k, .stride = s, .padding = p}), l);
      } else {
        probe_and_add(std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions{.kernel_size = k, .stride = s, .padding = p}), l);
      }
    } else if (type == "global_avg_pool2d") {
      l.allow_only({"type"});
      probe_and_add(std::make_shared<nn::GlobalAveragePool2d>(), l);
    } else if (type == "batchnorm") {
      l.allow_only({"type", "momentum", "eps"});
      if (shape.empty()) l.fail("batchnorm needs a channel dimension");
      const nn::BatchNormOptions o{.num_features = shape[0],
                                   .eps = l.get_double("eps", 1e-5),
                                   .momentum = l.get_double("momentum", 0.1)};
      if (shape.size() == 3) {
        probe_and_add(std::make_shared<nn::BatchNorm2d>(o), l);
      } else {
        probe_and_add(std::make_shared<nn::BatchNorm1d>(o), l);
      }
    } else if (type == "layernorm") {
      l.allow_only({"type", "eps"});
      probe_and_add(std::make_shared<nn::LayerNorm>(nn::LayerNormOptions{
                        .normalized_shape = {features(shape, l, "layernorm")}, .eps = l.get_double("eps", 1e-5)}),
                    l);
    } else if (type == "embedding") {
      l.allow_only({"type", "input_dim", "output_dim", "mask_zero", "init"});
      nn::EmbeddingOptions o{.num_embeddings = l.at("input_dim").as_int(), .embedding_dim = l.at("output_dim").as_int()};
      o.mask_zero = l.get_bool("mask_zero", false);
      if (const auto i = l.find("init")) o.init = init_from_name(*i);
      probe_and_add(std::make_shared<nn::Embedding>(o, gen), l);
    } else if (type == "lstm" || type == "gru") {
      l.allow_only({"type", "units", "num_layers", "bidirectional", "return_sequences", "dropout", "recurrent_dropout",
                    "inter_layer_dropout", "init"});
      if (shape.size() != 2) l.fail(type + " needs [steps, features] inputs, got one sample " + shape_str(shape));
      nn::RnnOptions o{.input_size = shape[1], .hidden_size = l.at("units").as_int()};
      o.num_layers = l.get_int("num_layers", 1);
      o.batch_first = true;
      o.bidirectional = l.get_bool("bidirectional", false);
      o.return_sequences = l.get_bool("return_sequences", false);
      // Keras' names: dropout on each step's input, recurrent_dropout on the state fed back.
      o.input_dropout = l.get_double("dropout", 0.0);
      o.recurrent_dropout = l.get_double("recurrent_dropout", 0.0);
      o.inter_layer_dropout = l.get_double("inter_layer_dropout", 0.0);
      if (const auto i = l.find("init")) {
        const std::string how = i->as_string();
        if (how == "keras") {
          o.init = nn::RnnInit::keras;
        } else if (how != "torch") {
          i->fail("must be \"torch\" (U(±1/√H)) or \"keras\" (glorot / orthogonal / unit forget bias)");
        }
      }
      // The default generator, not `gen`: it also draws the layer's dropout masks
      // during training, and the Trainer checkpoints the default generator's state.
      if (type == "lstm") {
        probe_and_add(std::make_shared<nn::LSTM>(o), l);
      } else {
        probe_and_add(std::make_shared<nn::GRU>(o), l);
      }
    } else if (type == "reshape") {
      l.allow_only({"type", "shape"});
      probe_and_add(std::make_shared<nn::Reshape>(l.at("shape").as_int_list()), l);
    } else {
      std::string known;
      for (const auto& t : layer_types()) known += (known.empty() ? "" : ", ") + t;
      l.at("type").fail("unknown layer type '" + type + "' (available: " + known + ")");
    }
  }
  if (model->size() == 0) layers.fail("the model has no layers");
  return model;
}

}  // namespace kiln::train
