#pragma once
// The format linear() reads its weights in, chosen per thread for inference:
// while a WeightFormatGuard(q8_0) is alive, linear() with an f32 weight whose
// rows are a multiple of 32 long, and no gradient needed, multiplies by a q8_0
// copy of the weight (ops/q8_0_weight.h) — made once and kept beside it, like
// autocast's bf16 copy — with its input rows rounded to q8_0 too, the
// arithmetic of llama.cpp's q8_0 models (integer dot products per 32-block,
// scaled by both blocks' scales, summed in f32). Decoding reads a quarter of
// f32's bytes. Anything else (rows not a multiple of 32, training) falls back
// to the ordinary f32 linear, so any model still runs.
//
// WeightFormatGuard(bf16) is bf16 autocast (ops/autocast.h) under another name,
// so one switch picks any of the three formats; f32 turns both off.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kiln/core/tensor.h"
#include "kiln/ops/autocast.h"
#include "kiln/ops/q8_0_weight.h"

namespace kiln {

enum class WeightFormat : std::uint8_t { f32, bf16, q8_0 };

/// "f32", "bf16", "q8_0".
const char* weight_format_name(WeightFormat f);
/// Parses a format name; throws kiln::Error naming the text and the choices.
WeightFormat weight_format_from_name(const std::string& name);

class WeightFormatGuard {
 public:
  explicit WeightFormatGuard(WeightFormat format);
  ~WeightFormatGuard();
  WeightFormatGuard(const WeightFormatGuard&) = delete;
  WeightFormatGuard& operator=(const WeightFormatGuard&) = delete;

 private:
  AutocastGuard autocast_;
  WeightFormat previous_;
};

/// The active format on this thread (f32 when no guard is alive).
WeightFormat weight_format();

/// `w` (f32 [N, K], K a multiple of 32) quantized to q8_0 with ggml's reference
/// rounding (quantize_row_q8_0_ref: d = max|x| / 127 stored as f16, q =
/// round-half-away(x / d) with 1/d taken before d is rounded), so a q8_0 GGUF
/// that kiln dequantized on load requantizes to the file's very quants and scales.
Q8_0Weight quantize_q8_0(const Tensor& w);

/// The q8_0 copy of `w`, kept on w's TensorImpl and remade only when w's
/// storage version changes (any in-place op). Writes by hand through
/// Tensor::data<T>() are not seen, as for autocast's copy.
std::shared_ptr<const Q8_0Weight> q8_0_weight(const Tensor& w);

}  // namespace kiln
