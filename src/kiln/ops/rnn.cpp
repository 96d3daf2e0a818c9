// LSTM and GRU layers as single ops.
//
// Forward: the input projection of all T steps is one GEMM
// (x[T·B, in]·W_ihᵀ, written on top of the biases); each step then adds
// h_prev·W_hhᵀ with one GEMM (accumulating into the LSTM's gates; into a
// separate buffer for the GRU, whose new gate needs the recurrent part apart)
// and runs the fused cell kernel. Every buffer is sized [T, B, ·] before the
// loop; a step only makes views.
//
// The three results (output sequence, h_n, c_n) are rows of one buffer
// [T + 2, B, H] (GRU: T + 1) recorded as one node, since a node has one output;
// the results handed out are slices of it, so a gradient reaching any of them
// arrives here as one [T + 2, B, H] gradient.
//
// Backward runs the steps in reverse: the fused cell backward gives the
// gate gradients of a step, and one GEMM dgates·W_hh gives the gradient of the
// previous state. The weight gradients are then one GEMM each over all steps
// (K = T·B), and dx is one GEMM. Saved for backward: the gate activations, c
// (LSTM) and h per step, and the GRU's h·W_hnᵀ + b_hn.
#include "kiln/ops/rnn.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/autograd/node.h"
#include "kiln/ops/kernels.h"
#include "kiln/ops/op_checks.h"
#include "kiln/ops/ops.h"
#include "kiln/ops/rnn_kernels.h"

namespace kiln {

KernelTable<LstmCellKernel>& lstm_cell_kernels() {
  static KernelTable<LstmCellKernel> table("lstm_cell");
  return table;
}
KernelTable<LstmCellBackwardKernel>& lstm_cell_backward_kernels() {
  static KernelTable<LstmCellBackwardKernel> table("lstm_cell_backward");
  return table;
}
KernelTable<GruCellKernel>& gru_cell_kernels() {
  static KernelTable<GruCellKernel> table("gru_cell");
  return table;
}
KernelTable<GruCellBackwardKernel>& gru_cell_backward_kernels() {
  static KernelTable<GruCellBackwardKernel> table("gru_cell_backward");
  return table;
}

namespace {

enum class Cell { lstm, gru };

const char* op_name(Cell cell) { return cell == Cell::lstm ? "lstm_layer" : "gru_layer"; }
std::int64_t gate_count(Cell cell) { return cell == Cell::lstm ? 4 : 3; }
std::string str(std::int64_t v) { return std::to_string(v); }

struct Dims {
  std::int64_t T, B, in, H;
};

void check_shape(const char* op, const char* what, const Tensor& t, const Shape& want) {
  if (t.shape() != want) {
    throw Error(std::string(op) + ": " + what + " must be " + shape_str(want) + ", got " + t.str());
  }
}

Dims check_args(Cell cell, const Tensor& x, const RnnWeights& w, const RnnLayerOptions& o) {
  const char* op = op_name(cell);
  const std::int64_t G = gate_count(cell);
  if (!x.defined() || !w.w_ih.defined() || !w.w_hh.defined()) {
    throw Error(std::string(op) + ": input, w_ih and w_hh must be defined");
  }
  if (x.dim() != 3) throw Error(std::string(op) + ": input must be 3-d [steps, batch, features], got " + x.str());
  if (x.dtype() != DType::f32 && x.dtype() != DType::f64) {
    throw Error(std::string(op) + ": input must be f32 or f64, got " + x.str());
  }
  const Dims d{x.size(0), x.size(1), x.size(2), w.w_hh.dim() == 2 ? w.w_hh.size(1) : -1};
  if (d.T < 1 || d.B < 1) {
    throw Error(std::string(op) + ": input " + x.str() + " needs at least one step and one sequence");
  }
  if (w.w_hh.dim() != 2 || d.H < 1 || w.w_hh.size(0) != G * d.H) {
    throw Error(std::string(op) + ": w_hh must be [" + str(G) + "·H, H] with H ≥ 1, got " + w.w_hh.str());
  }
  check_shape(op, "w_ih", w.w_ih, {G * d.H, d.in});
  for (const Tensor* t : {&w.w_ih, &w.w_hh}) detail::check_same_kind(x, *t, op);
  for (const auto& [t, what] : {std::pair{&w.b_ih, "b_ih"}, std::pair{&w.b_hh, "b_hh"}}) {
    if (!t->defined()) continue;
    check_shape(op, what, *t, {G * d.H});
    detail::check_same_kind(x, *t, op);
  }
  if (cell == Cell::gru && o.c0.defined()) throw Error("gru_layer: a GRU has no cell state; leave c0 undefined");
  for (const auto& [t, what] : {std::pair{&o.h0, "h0"}, std::pair{&o.c0, "c0"},
                                std::pair{&o.recurrent_mask, "recurrent_mask"}}) {
    if (!t->defined()) continue;
    check_shape(op, what, *t, {d.B, d.H});
    detail::check_same_kind(x, *t, op);
  }
  if (o.mask.defined()) {
    if (o.mask.dtype() != DType::boolean) throw Error(std::string(op) + ": mask must be bool, got " + o.mask.str());
    check_shape(op, "mask [steps, batch]", o.mask, {d.T, d.B});
    if (o.mask.device() != x.device()) {
      throw Error(std::string(op) + ": mask is on " + o.mask.device().str() + ", input on " + x.device().str());
    }
  }
  return d;
}

// Block `i` of a contiguous buffer [N, rows, cols] as a contiguous [rows, cols]
// tensor (no graph): a step's slice of a per-step buffer.
Tensor block(const Tensor& buf, std::int64_t i) {
  const std::int64_t rows = buf.size(1), cols = buf.size(2);
  return Tensor::from_storage(buf.storage(), {rows, cols}, buf.dtype(), buf.offset() + i * rows * cols);
}

// Blocks [i0, i1) of a contiguous [N, rows, cols] buffer as one [(i1-i0)·rows, cols] matrix.
Tensor blocks(const Tensor& buf, std::int64_t i0, std::int64_t i1) {
  const std::int64_t rows = buf.size(1), cols = buf.size(2);
  return Tensor::from_storage(buf.storage(), {(i1 - i0) * rows, cols}, buf.dtype(), buf.offset() + i0 * rows * cols);
}

// Step t of a contiguous [T, B] bool mask, or undefined.
Tensor mask_step(const Tensor& mask, std::int64_t t) {
  if (!mask.defined()) return Tensor();
  const std::int64_t B = mask.size(1);
  return Tensor::from_storage(mask.storage(), {B}, DType::boolean, mask.offset() + t * B);
}

// A 2-d matrix (or transposed view) as the [1, rows, cols] operand the GEMM kernel takes.
Tensor gemm3(const Tensor& m) { return m.unsqueeze(0); }

// What backward needs, all contiguous. Built under NoGradGuard.
struct Saved {
  Cell cell;
  bool reverse;
  bool has_h0;
  std::int64_t T, B, in, H;
  Tensor x{};             // [T, B, in]
  Tensor w_ih{}, w_hh{};  // [G·H, in], [G·H, H]
  Tensor gates{};         // [T, B, G·H] activations
  Tensor hidden_gates{};  // GRU: [T, B, 3H], n block = h·W_hnᵀ + b_hn
  Tensor cs{};            // LSTM: [T, B, H] cell state after each step
  Tensor hs{};            // [T, B, H] hidden state after each step
  Tensor h_rec{};         // [T, B, H] hs·rec_mask, or undefined without recurrent dropout
  Tensor h0{}, c0{};      // [B, H] (zeros when not given)
  Tensor h0_rec{};        // h0·rec_mask, or h0
  Tensor mask{};          // [T, B] bool or undefined
  Tensor rec_mask{};      // [B, H] or undefined

  std::int64_t time_of(std::int64_t k) const { return reverse ? T - 1 - k : k; }  // k-th step processed
  std::int64_t prev_of(std::int64_t t) const { return reverse ? t + 1 : t - 1; }   // the step before t
};

// The bias added under the input projection: the LSTM's recurrent bias adds
// linearly and joins b_ih there; the GRU's stays with h·W_hhᵀ, since r scales b_hn.
Tensor input_bias(Cell cell, const RnnWeights& w) {
  if (cell == Cell::gru || !w.b_hh.defined()) return w.b_ih;
  return w.b_ih.defined() ? add(w.b_ih, w.b_hh) : w.b_hh;
}

// Runs the layer; returns the [T + S, B, H] result buffer and fills `s`.
Tensor run_forward(Cell cell, const Dims& d, const Tensor& x, const RnnWeights& w, const RnnLayerOptions& o,
                   Saved& s) {
  NoGradGuard no_grad;
  const std::int64_t T = d.T, B = d.B, H = d.H, G = gate_count(cell);
  const DType dtype = x.dtype();
  const Device device = x.device();
  s = Saved{.cell = cell, .reverse = o.reverse, .has_h0 = o.h0.defined(), .T = T, .B = B, .in = d.in, .H = H};
  s.x = x.contiguous();
  s.w_ih = w.w_ih.contiguous();
  s.w_hh = w.w_hh.contiguous();
  s.mask = o.mask.defined() ? o.mask.contiguous() : Tensor();
  s.rec_mask = o.recurrent_mask.defined() ? o.recurrent_mask.contiguous() : Tensor();
  s.h0 = s.has_h0 ? o.h0.contiguous() : Tensor::zeros({B, H}, dtype, device);
  s.h0_rec = s.rec_mask.defined() ? mul(s.h0, s.rec_mask) : s.h0;
  auto gemm = matmul_kernels().get(device, dtype);

  // Input projection of every step, written on top of the biases.
  s.gates = Tensor::empty({T, B, G * H}, dtype, device);
  const Tensor bias = input_bias(cell, w);
  Tensor gates2 = blocks(s.gates, 0, T);
  if (bias.defined()) copy_(gates2, bias.unsqueeze(0));
  gemm(gemm3(blocks(s.x, 0, T)), gemm3(s.w_ih.t()), gemm3(gates2), bias.defined());

  const std::int64_t S = cell == Cell::lstm ? 2 : 1;
  const Tensor result = Tensor::empty({T + S, B, H}, dtype, device);
  const Tensor output = Tensor::from_storage(result.storage(), {T, B, H}, dtype, result.offset());
  // Without a mask the output is the state itself; with one they differ at padded steps.
  s.hs = s.mask.defined() ? Tensor::empty({T, B, H}, dtype, device) : output;
  if (s.rec_mask.defined()) s.h_rec = Tensor::empty({T, B, H}, dtype, device);
  Tensor b_hh{};
  if (cell == Cell::lstm) {
    s.cs = Tensor::empty({T, B, H}, dtype, device);
    s.c0 = o.c0.defined() ? o.c0.contiguous() : Tensor::zeros({B, H}, dtype, device);
  } else {
    s.hidden_gates = Tensor::empty({T, B, G * H}, dtype, device);
    b_hh = w.b_hh.defined() ? w.b_hh.contiguous() : Tensor::zeros({G * H}, dtype, device);
  }

  const Tensor w_hh_t = gemm3(s.w_hh.t());  // [1, H, G·H]
  auto lstm_cell = cell == Cell::lstm ? lstm_cell_kernels().get(device, dtype) : nullptr;
  auto gru_cell = cell == Cell::gru ? gru_cell_kernels().get(device, dtype) : nullptr;
  for (std::int64_t k = 0; k < T; ++k) {
    const std::int64_t t = s.time_of(k), tp = s.prev_of(t);
    const bool first = k == 0;
    const Tensor h_prev = first ? s.h0 : block(s.hs, tp);
    const Tensor h_prev_rec = first ? s.h0_rec : s.h_rec.defined() ? block(s.h_rec, tp) : h_prev;
    const Tensor y = s.mask.defined() ? block(output, t) : Tensor();
    const Tensor h_rec = s.h_rec.defined() ? block(s.h_rec, t) : Tensor();
    const Tensor g = block(s.gates, t);
    if (cell == Cell::lstm) {
      // A zero initial state adds nothing: skip that GEMM.
      if (!first || s.has_h0) gemm(gemm3(h_prev_rec), w_hh_t, gemm3(g), true);
      lstm_cell({.gates = g, .c_prev = first ? s.c0 : block(s.cs, tp), .h_prev = h_prev,
                 .mask = mask_step(s.mask, t), .rec_mask = s.rec_mask, .c = block(s.cs, t), .h = block(s.hs, t),
                 .y = y, .h_rec = h_rec});
    } else {
      const Tensor hg = block(s.hidden_gates, t);
      gemm(gemm3(h_prev_rec), w_hh_t, gemm3(hg), false);
      gru_cell({.gates = g, .hidden_gates = hg, .b_hh = b_hh, .h_prev = h_prev, .mask = mask_step(s.mask, t),
                .rec_mask = s.rec_mask, .h = block(s.hs, t), .y = y, .h_rec = h_rec});
    }
  }
  const std::int64_t last = s.time_of(T - 1);
  Tensor h_n = block(result, T);
  copy_(h_n, block(s.hs, last));
  if (cell == Cell::lstm) {
    Tensor c_n = block(result, T + 1);
    copy_(c_n, block(s.cs, last));
  }
  return result;
}

struct Needs {
  bool x, w_ih, w_hh, b_ih, b_hh, h0, c0;
};

// dW_hh = Σ_t dhidden_tᵀ · h_rec_{t-1}: one GEMM over every step but the first
// processed (K = (T-1)·B), plus the initial state's term when there was one.
Tensor recurrent_weight_grad(const Saved& s, const Tensor& dhidden) {
  const std::int64_t T = s.T, G = gate_count(s.cell);
  auto gemm = matmul_kernels().get(s.x.device(), s.x.dtype());
  Tensor dw = Tensor::empty({G * s.H, s.H}, s.x.dtype(), s.x.device());
  const Tensor src = s.h_rec.defined() ? s.h_rec : s.hs;
  bool written = false;
  if (T > 1) {
    // Forward runs pair dhidden[1..T) with states [0..T-1); reverse runs dhidden[0..T-1) with [1..T).
    const std::int64_t g0 = s.reverse ? 0 : 1, h0 = s.reverse ? 1 : 0;
    gemm(gemm3(blocks(dhidden, g0, g0 + T - 1).t()), gemm3(blocks(src, h0, h0 + T - 1)), gemm3(dw), false);
    written = true;
  }
  if (s.has_h0) {
    gemm(gemm3(block(dhidden, s.time_of(0)).t()), gemm3(s.h0_rec), gemm3(dw), written);
    written = true;
  }
  if (!written) fill_(dw, 0.0);
  return dw;
}

std::vector<Tensor> run_backward(const Saved& s, const Needs& need, const Tensor& grad) {
  NoGradGuard no_grad;
  const std::int64_t T = s.T, B = s.B, H = s.H, G = gate_count(s.cell);
  const DType dtype = s.x.dtype();
  const Device device = s.x.device();
  const Tensor g = grad.contiguous();  // [T + S, B, H]
  auto gemm = matmul_kernels().get(device, dtype);

  const Tensor dgates = Tensor::empty({T, B, G * H}, dtype, device);
  const Tensor dhidden = s.cell == Cell::gru ? Tensor::empty({T, B, G * H}, dtype, device) : dgates;
  const Tensor dh_carry = block(g, T).clone();
  const Tensor dc = s.cell == Cell::lstm ? block(g, T + 1).clone() : Tensor();
  const Tensor dh_rec = Tensor::empty({B, H}, dtype, device);
  const Tensor w_hh3 = gemm3(s.w_hh);  // [1, G·H, H]
  auto lstm_back = s.cell == Cell::lstm ? lstm_cell_backward_kernels().get(device, dtype) : nullptr;
  auto gru_back = s.cell == Cell::gru ? gru_cell_backward_kernels().get(device, dtype) : nullptr;
  bool have_rec = false;  // dh_rec holds the previous backward step's GEMM
  for (std::int64_t k = T - 1; k >= 0; --k) {
    const std::int64_t t = s.time_of(k), tp = s.prev_of(t);
    const bool first = k == 0;
    const Tensor rec_in = have_rec ? dh_rec : Tensor();
    if (s.cell == Cell::lstm) {
      lstm_back({.gates = block(s.gates, t), .c_prev = first ? s.c0 : block(s.cs, tp), .c = block(s.cs, t),
                 .mask = mask_step(s.mask, t), .rec_mask = s.rec_mask, .dy = block(g, t), .dh_rec = rec_in,
                 .dh_carry = dh_carry, .dc = dc, .dgates = block(dgates, t)});
    } else {
      gru_back({.gates = block(s.gates, t), .hidden_gates = block(s.hidden_gates, t),
                .h_prev = first ? s.h0 : block(s.hs, tp), .mask = mask_step(s.mask, t), .rec_mask = s.rec_mask,
                .dy = block(g, t), .dh_rec = rec_in, .dh_carry = dh_carry, .dgates = block(dgates, t),
                .dhidden_gates = block(dhidden, t)});
    }
    // The gradient of the previous state through the recurrent GEMM (h0's only when asked for).
    if (!first || need.h0) {
      gemm(gemm3(block(dhidden, t)), w_hh3, gemm3(dh_rec), false);
      have_rec = true;
    }
  }

  const Tensor dgates2 = blocks(dgates, 0, T), dhidden2 = blocks(dhidden, 0, T);
  std::vector<Tensor> grads(7);
  if (need.x) grads[0] = matmul(dgates2, s.w_ih).view({T, B, s.in});
  if (need.w_ih) grads[1] = matmul(dgates2.t(), blocks(s.x, 0, T));
  if (need.w_hh) grads[2] = recurrent_weight_grad(s, dhidden);
  if (need.b_ih) grads[3] = sum(dgates2, {0});
  if (need.b_hh) grads[4] = s.cell == Cell::lstm && need.b_ih ? grads[3] : sum(dhidden2, {0});
  if (need.h0) {
    grads[5] = have_rec ? add(dh_carry, s.rec_mask.defined() ? mul(dh_rec, s.rec_mask) : dh_rec) : dh_carry;
  }
  if (need.c0) grads[6] = dc;
  return grads;
}

RnnLayerOutput rnn_layer(Cell cell, const Tensor& x, const RnnWeights& w, const RnnLayerOptions& o) {
  const Dims d = check_args(cell, x, w, o);
  auto saved = std::make_shared<Saved>();
  Tensor result = run_forward(cell, d, x, w, o, *saved);
  const Needs need{x.requires_grad(), w.w_ih.requires_grad(), w.w_hh.requires_grad(), w.b_ih.requires_grad(),
                   w.b_hh.requires_grad(), o.h0.requires_grad(), o.c0.requires_grad()};
  result = record(result, op_name(cell), {x, w.w_ih, w.w_hh, w.b_ih, w.b_hh, o.h0, o.c0},
                  [saved, need](const Tensor& g) { return run_backward(*saved, need, g); });
  RnnLayerOutput out;
  out.output = result.slice(0, 0, d.T);
  out.h_n = result.slice(0, d.T, d.T + 1).squeeze(0);
  if (cell == Cell::lstm) out.c_n = result.slice(0, d.T + 1, d.T + 2).squeeze(0);
  return out;
}

}  // namespace

RnnLayerOutput lstm_layer(const Tensor& x, const RnnWeights& weights, const RnnLayerOptions& options) {
  return rnn_layer(Cell::lstm, x, weights, options);
}

RnnLayerOutput gru_layer(const Tensor& x, const RnnWeights& weights, const RnnLayerOptions& options) {
  return rnn_layer(Cell::gru, x, weights, options);
}

Tensor sequence_mask(const Tensor& lengths, std::int64_t steps) {
  if (!lengths.defined() || lengths.dim() != 1 || is_floating(lengths.dtype()) ||
      lengths.dtype() == DType::boolean) {
    throw Error("sequence_mask: lengths must be a 1-d integer tensor [batch], got " +
                (lengths.defined() ? lengths.str() : std::string("an undefined tensor")));
  }
  if (steps < 0) throw Error("sequence_mask: steps must be ≥ 0, got " + str(steps));
  const Tensor t = Tensor::arange(steps, DType::i64, lengths.device()).unsqueeze(0);  // [1, steps]
  return lt(t, lengths.to(DType::i64).unsqueeze(1));
}

}  // namespace kiln
