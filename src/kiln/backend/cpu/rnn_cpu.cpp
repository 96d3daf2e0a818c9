// CPU kernels for the fused LSTM and GRU cells (ops/rnn_kernels.h), one time
// step each: one parallel_for over batch rows, one vectorisable loop over the
// H units of a row. A padded row (mask false) is a branch per row, not per
// element. f32 uses the polynomial exp/tanh of scalar_math.h, f64 libm.
//
// The backward kernels first fold every incoming gradient of h into dh_carry
// (dh = dh_carry + rec_mask·dh_rec + dy) in simple loops, so the main loop
// reads one array and has no per-element branches.
#include <algorithm>
#include <cstdint>

#include "kiln/backend/cpu/register.h"
#include "kiln/backend/cpu/scalar_math.h"
#include "kiln/core/parallel.h"
#include "kiln/ops/rnn_kernels.h"

namespace kiln::cpu {

namespace {

// Rows per chunk: at least 16384 units (the grain of the other row kernels), so
// a step of the usual sizes (64 × 128) stays on one thread — a few microseconds
// of work, where waking a second thread costs about as much — and only the
// GEMMs around it go parallel.
std::int64_t row_grain(std::int64_t H) { return std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(H, 1)); }

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}
template <class T>
T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}

// The parts of a step every kernel shares: h_rec = h·rec_mask and the padded-row state copy.
template <class T>
void write_h_rec(T* h_rec, const T* h, const T* rec_mask, std::int64_t H) {
  if (h_rec == nullptr) return;
#pragma omp simd
  for (std::int64_t j = 0; j < H; ++j) h_rec[j] = h[j] * rec_mask[j];
}

// dh_carry += dy (real rows only) + rec_mask·dh_rec.
template <class T>
void fold_dh(T* dh, const T* dy, const T* dh_rec, const T* rec_mask, bool real, std::int64_t H) {
  if (dy != nullptr && real) {
#pragma omp simd
    for (std::int64_t j = 0; j < H; ++j) dh[j] += dy[j];
  }
  if (dh_rec != nullptr && rec_mask != nullptr) {
#pragma omp simd
    for (std::int64_t j = 0; j < H; ++j) dh[j] += rec_mask[j] * dh_rec[j];
  } else if (dh_rec != nullptr) {
#pragma omp simd
    for (std::int64_t j = 0; j < H; ++j) dh[j] += dh_rec[j];
  }
}

// ---- LSTM ----------------------------------------------------------------------
// gates [B, 4H] (i, f, g, o): pre-activations in, activations out;
// c_prev, h_prev, rec_mask, c, h, y, h_rec [B, H]; mask [B].
template <class T>
void lstm_cell_kernel(const LstmCellForward& s) {
  const std::int64_t B = s.h.size(0), H = s.h.size(1);
  T* gates = s.gates.data<T>();
  const T* c_prev = s.c_prev.data<T>();
  const T* h_prev = s.h_prev.data<T>();
  const bool* mask = ptr_or_null<bool>(s.mask);
  const T* rec = ptr_or_null<T>(s.rec_mask);
  T* c_out = s.c.data<T>();
  T* h_out = s.h.data<T>();
  T* y_out = mut_ptr_or_null<T>(s.y);
  T* h_rec = mut_ptr_or_null<T>(s.h_rec);
  parallel_for(0, B, row_grain(H), [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t r = b * H;
      T* h = h_out + r;
      if (mask != nullptr && !mask[b]) {
        std::copy(c_prev + r, c_prev + r + H, c_out + r);
        std::copy(h_prev + r, h_prev + r + H, h);
        if (y_out != nullptr) std::fill(y_out + r, y_out + r + H, T(0));
      } else {
        T* g = gates + 4 * r;
        const T* cp = c_prev + r;
        T* c = c_out + r;
#pragma omp simd
        for (std::int64_t j = 0; j < H; ++j) {
          const T i = sigmoid_c(g[j]), f = sigmoid_c(g[H + j]), gg = tanh_c(g[2 * H + j]);
          const T o = sigmoid_c(g[3 * H + j]);
          g[j] = i;
          g[H + j] = f;
          g[2 * H + j] = gg;
          g[3 * H + j] = o;
          const T cn = f * cp[j] + i * gg;
          c[j] = cn;
          h[j] = o * tanh_c(cn);
        }
        if (y_out != nullptr) std::copy(h, h + H, y_out + r);
      }
      write_h_rec(h_rec == nullptr ? nullptr : h_rec + r, h, rec == nullptr ? nullptr : rec + r, H);
    }
  });
}

// With dh the folded gradient of h and tc = tanh(c):
//   dc' = dc + dh·o·(1 - tc²);  d_i = dc'·g·i(1-i), d_f = dc'·c_prev·f(1-f),
//   d_g = dc'·i·(1 - g²), d_o = dh·tc·o(1-o);  dc_prev = dc'·f.
template <class T>
void lstm_cell_backward_kernel(const LstmCellBackward& s) {
  const std::int64_t B = s.dc.size(0), H = s.dc.size(1);
  const T* gates = s.gates.data<T>();
  const T* c_prev = s.c_prev.data<T>();
  const T* c_all = s.c.data<T>();
  const bool* mask = ptr_or_null<bool>(s.mask);
  const T* rec = ptr_or_null<T>(s.rec_mask);
  const T* dy = ptr_or_null<T>(s.dy);
  const T* dh_rec = ptr_or_null<T>(s.dh_rec);
  T* dh_all = s.dh_carry.data<T>();
  T* dc_all = s.dc.data<T>();
  T* dgates = s.dgates.data<T>();
  parallel_for(0, B, row_grain(H), [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t r = b * H;
      const bool real = mask == nullptr || mask[b];
      T* dh = dh_all + r;
      fold_dh(dh, dy == nullptr ? nullptr : dy + r, dh_rec == nullptr ? nullptr : dh_rec + r,
              rec == nullptr ? nullptr : rec + r, real, H);
      T* dg = dgates + 4 * r;
      if (!real) {  // the state passed through: dh and dc flow on unchanged
        std::fill(dg, dg + 4 * H, T(0));
        continue;
      }
      const T* g = gates + 4 * r;
      const T* cp = c_prev + r;
      const T* c = c_all + r;
      T* dc = dc_all + r;
#pragma omp simd
      for (std::int64_t j = 0; j < H; ++j) {
        const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
        const T tc = tanh_c(c[j]);
        const T dcc = dc[j] + dh[j] * o * (T(1) - tc * tc);
        dg[j] = dcc * gg * i * (T(1) - i);
        dg[H + j] = dcc * cp[j] * f * (T(1) - f);
        dg[2 * H + j] = dcc * i * (T(1) - gg * gg);
        dg[3 * H + j] = dh[j] * tc * o * (T(1) - o);
        dc[j] = dcc * f;
        dh[j] = T(0);
      }
    }
  });
}

// ---- GRU -----------------------------------------------------------------------
// gates [B, 3H] (r, z, n): input part in, activations out; hidden_gates [B, 3H]:
// h_prev·W_hhᵀ in, n block becomes h_n + b_hn; b_hh [3H]; the rest [B, H] or [B].
template <class T>
void gru_cell_kernel(const GruCellForward& s) {
  const std::int64_t B = s.h.size(0), H = s.h.size(1);
  T* gates = s.gates.data<T>();
  T* hidden = s.hidden_gates.data<T>();
  const T* bias = s.b_hh.data<T>();
  const T* h_prev = s.h_prev.data<T>();
  const bool* mask = ptr_or_null<bool>(s.mask);
  const T* rec = ptr_or_null<T>(s.rec_mask);
  T* h_out = s.h.data<T>();
  T* y_out = mut_ptr_or_null<T>(s.y);
  T* h_rec = mut_ptr_or_null<T>(s.h_rec);
  parallel_for(0, B, row_grain(H), [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t r = b * H;
      const T* hp = h_prev + r;
      T* h = h_out + r;
      if (mask != nullptr && !mask[b]) {
        std::copy(hp, hp + H, h);
        if (y_out != nullptr) std::fill(y_out + r, y_out + r + H, T(0));
      } else {
        T* gx = gates + 3 * r;
        T* gh = hidden + 3 * r;
#pragma omp simd
        for (std::int64_t j = 0; j < H; ++j) {
          const T rg = sigmoid_c(gx[j] + gh[j] + bias[j]);
          const T z = sigmoid_c(gx[H + j] + gh[H + j] + bias[H + j]);
          const T hn = gh[2 * H + j] + bias[2 * H + j];
          const T n = tanh_c(gx[2 * H + j] + rg * hn);
          gx[j] = rg;
          gx[H + j] = z;
          gx[2 * H + j] = n;
          gh[2 * H + j] = hn;
          h[j] = n + z * (hp[j] - n);
        }
        if (y_out != nullptr) std::copy(h, h + H, y_out + r);
      }
      write_h_rec(h_rec == nullptr ? nullptr : h_rec + r, h, rec == nullptr ? nullptr : rec + r, H);
    }
  });
}

// With dh the folded gradient of h:
//   dn' = dh·(1-z)·(1-n²);  d_r = dn'·hn·r(1-r);  d_z = dh·(h_prev - n)·z(1-z);
//   dgates = (d_r, d_z, dn'),  dhidden = (d_r, d_z, dn'·r),  dh_carry = dh·z.
template <class T>
void gru_cell_backward_kernel(const GruCellBackward& s) {
  const std::int64_t B = s.dh_carry.size(0), H = s.dh_carry.size(1);
  const T* gates = s.gates.data<T>();
  const T* hidden = s.hidden_gates.data<T>();
  const T* h_prev = s.h_prev.data<T>();
  const bool* mask = ptr_or_null<bool>(s.mask);
  const T* rec = ptr_or_null<T>(s.rec_mask);
  const T* dy = ptr_or_null<T>(s.dy);
  const T* dh_rec = ptr_or_null<T>(s.dh_rec);
  T* dh_all = s.dh_carry.data<T>();
  T* dgates = s.dgates.data<T>();
  T* dhidden = s.dhidden_gates.data<T>();
  parallel_for(0, B, row_grain(H), [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t r = b * H;
      const bool real = mask == nullptr || mask[b];
      T* dh = dh_all + r;
      fold_dh(dh, dy == nullptr ? nullptr : dy + r, dh_rec == nullptr ? nullptr : dh_rec + r,
              rec == nullptr ? nullptr : rec + r, real, H);
      T* dgx = dgates + 3 * r;
      T* dgh = dhidden + 3 * r;
      if (!real) {
        std::fill(dgx, dgx + 3 * H, T(0));
        std::fill(dgh, dgh + 3 * H, T(0));
        continue;
      }
      const T* g = gates + 3 * r;
      const T* gh = hidden + 3 * r;
      const T* hp = h_prev + r;
#pragma omp simd
      for (std::int64_t j = 0; j < H; ++j) {
        const T rg = g[j], z = g[H + j], n = g[2 * H + j], hn = gh[2 * H + j];
        const T dn = dh[j] * (T(1) - z) * (T(1) - n * n);
        const T dr = dn * hn * rg * (T(1) - rg);
        const T dz = dh[j] * (hp[j] - n) * z * (T(1) - z);
        dgx[j] = dr;
        dgx[H + j] = dz;
        dgx[2 * H + j] = dn;
        dgh[j] = dr;
        dgh[H + j] = dz;
        dgh[2 * H + j] = dn * rg;
        dh[j] = dh[j] * z;
      }
    }
  });
}

}  // namespace

void register_rnn_kernels() {
  constexpr auto cpu = DeviceKind::cpu;
  // f32 for training, f64 for gradient checks; 16-bit state would drift over long sequences.
  auto add = [&](auto t) {
    using T = decltype(t);
    lstm_cell_kernels().set(cpu, dtype_v<T>, &lstm_cell_kernel<T>);
    lstm_cell_backward_kernels().set(cpu, dtype_v<T>, &lstm_cell_backward_kernel<T>);
    gru_cell_kernels().set(cpu, dtype_v<T>, &gru_cell_kernel<T>);
    gru_cell_backward_kernels().set(cpu, dtype_v<T>, &gru_cell_backward_kernel<T>);
  };
  add(float{});
  add(double{});
}

}  // namespace kiln::cpu
