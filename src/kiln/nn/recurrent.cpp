#include "kiln/nn/recurrent.h"

#include <cmath>
#include <string>

#include "kiln/nn/init.h"
#include "kiln/ops/ops.h"

namespace kiln::nn {

namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

std::string str(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

void check_options(const char* kind, const RnnOptions& o) {
  const std::string k(kind);
  if (o.input_size < 1 || o.hidden_size < 1 || o.num_layers < 1) {
    throw Error(k + ": input_size, hidden_size and num_layers must be ≥ 1, got " + str(o.input_size) + ", " +
                str(o.hidden_size) + " and " + str(o.num_layers));
  }
  for (const auto& [p, what] : {std::pair{o.inter_layer_dropout, "inter_layer_dropout"},
                                std::pair{o.input_dropout, "input_dropout"},
                                std::pair{o.recurrent_dropout, "recurrent_dropout"}}) {
    if (!(p >= 0.0 && p < 1.0)) throw Error(k + ": " + what + " must be in [0, 1), got " + str(p));
  }
  if (o.inter_layer_dropout > 0.0 && o.num_layers == 1) {
    throw Error(k + ": inter_layer_dropout acts between stacked layers and does nothing with num_layers = 1; "
                    "use input_dropout (Keras' dropout) to drop inputs");
  }
  if (o.dtype != DType::f32 && o.dtype != DType::f64) {
    throw Error(k + ": dtype must be f32 or f64, got " + dtype_name(o.dtype));
  }
}

}  // namespace

Recurrent::Recurrent(Cell cell, const RnnOptions& options, Generator& gen)
    : cell_(cell), options_(options), gen_(&gen) {
  check_options(kind(), options);
  const std::int64_t H = options.hidden_size, G = cell == Cell::lstm ? 4 : 3, D = directions();
  const double bound = 1.0 / std::sqrt(static_cast<double>(H));
  for (std::int64_t l = 0; l < options.num_layers; ++l) {
    const std::int64_t in = l == 0 ? options.input_size : D * H;
    for (std::int64_t d = 0; d < D; ++d) {
      const std::string suffix = "_l" + str(l) + (d == 1 ? "_reverse" : "");
      RnnWeights w;
      w.w_ih = register_parameter("weight_ih" + suffix, Tensor::empty({G * H, in}, options.dtype));
      w.w_hh = register_parameter("weight_hh" + suffix, Tensor::empty({G * H, H}, options.dtype));
      if (options.bias) {
        w.b_ih = register_parameter("bias_ih" + suffix, Tensor::empty({G * H}, options.dtype));
        w.b_hh = register_parameter("bias_hh" + suffix, Tensor::empty({G * H}, options.dtype));
      }
      if (options.init == RnnInit::torch) {
        for (Tensor* p : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh}) {
          if (p->defined()) init::uniform_(*p, -bound, bound, gen);
        }
      } else {
        init::xavier_uniform_(w.w_ih, gen);
        init::orthogonal_(w.w_hh, gen);
        if (options.bias) {
          init::zeros_(w.b_ih);
          init::zeros_(w.b_hh);
          if (cell == Cell::lstm) {  // Keras' unit_forget_bias: gate order i, f, g, o
            Tensor forget = w.b_ih.slice(0, H, 2 * H);
            init::ones_(forget);
          }
        }
      }
      weights_.push_back(std::move(w));
    }
  }
}

const RnnWeights& Recurrent::weights(std::int64_t layer, std::int64_t direction) const {
  if (layer < 0 || layer >= options_.num_layers || direction < 0 || direction >= directions()) {
    throw Error(std::string(kind()) + "::weights: no layer " + str(layer) + " direction " + str(direction) + " in " +
                name());
  }
  return weights_[static_cast<std::size_t>(layer * directions() + direction)];
}

// 0 or 1/(1-p), one value per element of `shape`, in the dtype and on the device of `like`.
Tensor Recurrent::keep_mask(const Shape& shape, double p, const Tensor& like) {
  return mul(bernoulli(shape, 1.0 - p, *gen_, like.dtype(), like.device()), 1.0 / (1.0 - p));
}

Recurrent::Run Recurrent::run(const Tensor& x, const RnnState& initial, const Tensor& mask, bool need_sequence,
                              bool need_states) {
  const std::string k(kind());
  const RnnOptions& o = options_;
  const std::int64_t L = o.num_layers, D = directions(), H = o.hidden_size;
  if (!x.defined() || x.dim() != 3 || x.size(2) != o.input_size) {
    throw Error(k + ": input must be " + (o.batch_first ? "[batch, steps, " : "[steps, batch, ") +
                str(o.input_size) + "], got " + (x.defined() ? x.str() : std::string("an undefined tensor")));
  }
  if (x.dtype() != o.dtype) {
    throw Error(k + ": input " + x.str() + " does not match the parameters' dtype " + dtype_name(o.dtype));
  }
  const Tensor xt = o.batch_first ? x.transpose(0, 1) : x;  // [T, B, in]
  const std::int64_t T = xt.size(0), B = xt.size(1);

  // Padding: a [B, T] bool mask, or lengths [B] turned into one; the ops take it time-major.
  Tensor step_mask;
  if (mask.defined()) {
    const bool lengths = mask.dim() == 1 && mask.dtype() != DType::boolean && !is_floating(mask.dtype());
    if (lengths && mask.size(0) != B) {
      throw Error(k + ": lengths " + mask.str() + " must have one entry per sequence (" + str(B) + ")");
    }
    if (!lengths && (mask.dtype() != DType::boolean || mask.shape() != Shape{B, T})) {
      throw Error(k + ": mask must be bool [batch, steps] = [" + str(B) + ", " + str(T) +
                  "] or integer lengths [batch], got " + mask.str());
    }
    step_mask = (lengths ? sequence_mask(mask, T) : mask).transpose(0, 1);
  }
  const Shape state_shape{L * D, B, H};
  if (initial.h.defined() && initial.h.shape() != state_shape) {
    throw Error(k + ": initial h must be [layers·directions, batch, hidden] = " + shape_str(state_shape) + ", got " +
                initial.h.str());
  }
  if (initial.c.defined() && cell_ == Cell::gru) throw Error("GRU: a GRU has no cell state; leave initial c undefined");
  if (initial.c.defined() && initial.c.shape() != state_shape) {
    throw Error(k + ": initial c must be [layers·directions, batch, hidden] = " + shape_str(state_shape) + ", got " +
                initial.c.str());
  }

  const bool training = is_training();
  Run out;
  std::vector<Tensor> h_n, c_n, top_last;
  Tensor layer_in = xt;
  for (std::int64_t l = 0; l < L; ++l) {
    if (l > 0 && training && o.inter_layer_dropout > 0.0) {
      layer_in = dropout(layer_in, o.inter_layer_dropout, true, *gen_);
    }
    std::vector<Tensor> outputs;
    for (std::int64_t d = 0; d < D; ++d) {
      const std::int64_t i = l * D + d;
      Tensor in = layer_in;
      if (training && o.input_dropout > 0.0) {
        in = mul(layer_in, keep_mask({1, B, layer_in.size(2)}, o.input_dropout, layer_in));
      }
      const RnnLayerOptions lo{
          .reverse = d == 1,
          .h0 = initial.h.defined() ? initial.h.slice(0, i, i + 1).squeeze(0) : Tensor(),
          .c0 = initial.c.defined() ? initial.c.slice(0, i, i + 1).squeeze(0) : Tensor(),
          .mask = step_mask,
          .recurrent_mask =
              training && o.recurrent_dropout > 0.0 ? keep_mask({B, H}, o.recurrent_dropout, layer_in) : Tensor()};
      const RnnWeights& w = weights_[static_cast<std::size_t>(i)];
      const RnnLayerOutput r = cell_ == Cell::lstm ? lstm_layer(in, w, lo) : gru_layer(in, w, lo);
      outputs.push_back(r.output);
      h_n.push_back(r.h_n);
      if (r.c_n.defined()) c_n.push_back(r.c_n);
      if (l == L - 1) top_last.push_back(r.h_n);
    }
    const bool last_layer = l == L - 1;
    if (!last_layer || need_sequence) layer_in = D == 1 ? outputs[0] : concat(outputs, 2);
  }
  if (need_sequence) out.result.output = o.batch_first ? layer_in.transpose(0, 1).contiguous() : layer_in;
  if (need_states) {
    out.result.h_n = stack(h_n, 0);
    if (!c_n.empty()) out.result.c_n = stack(c_n, 0);
  }
  out.last = D == 1 ? top_last[0] : concat(top_last, 1);
  return out;
}

RnnOutput Recurrent::forward_with_state(const Tensor& x, const RnnState& initial, const Tensor& mask) {
  RnnOutput r = run(x, initial, mask, true, true).result;
  std::vector<Shape> shapes{r.output.shape(), r.h_n.shape()};
  if (r.c_n.defined()) shapes.push_back(r.c_n.shape());
  record_call(shapes);
  return r;
}

Tensor Recurrent::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor Recurrent::forward(const Tensor& x, const Tensor& mask) {
  Run r = run(x, {}, mask, options_.return_sequences, false);
  return options_.return_sequences ? r.result.output : r.last;
}

Tensor Recurrent::compute_mask(const Tensor& x, const Tensor& mask) const {
  if (!options_.return_sequences || !mask.defined()) return Tensor();
  // Lengths are passed on as the [B, T] bool mask the next layer expects.
  if (mask.dtype() == DType::boolean) return mask;
  return sequence_mask(mask, x.size(options_.batch_first ? 1 : 0));
}

std::string Recurrent::name() const {
  const RnnOptions& o = options_;
  std::string s = std::string(kind()) + "(input_size=" + str(o.input_size) + ", hidden_size=" + str(o.hidden_size);
  if (o.num_layers != 1) s += ", num_layers=" + str(o.num_layers);
  if (!o.bias) s += ", bias=false";
  if (o.batch_first) s += ", batch_first=true";
  if (o.bidirectional) s += ", bidirectional=true";
  if (o.return_sequences) s += ", return_sequences=true";
  if (o.inter_layer_dropout > 0) s += ", inter_layer_dropout=" + str(o.inter_layer_dropout);
  if (o.input_dropout > 0) s += ", input_dropout=" + str(o.input_dropout);
  if (o.recurrent_dropout > 0) s += ", recurrent_dropout=" + str(o.recurrent_dropout);
  if (o.init == RnnInit::keras) s += ", init=keras";
  if (o.dtype != DType::f32) s += std::string(", dtype=") + dtype_name(o.dtype);
  return s + ")";
}

}  // namespace kiln::nn
