#include "kiln/train/objective.h"

#include "kiln/ops/ops.h"

namespace kiln::train {
namespace {

/// Mean over every dimension but the first: [B, ...] -> [B].
Tensor per_row_mean(const Tensor& x) {
  if (x.dim() <= 1) return x;
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 1; d < x.dim(); ++d) dims.push_back(d);
  return mean(x, dims);
}

void check_same_shape(const char* loss, const Tensor& output, const Tensor& target) {
  if (output.shape() != target.shape()) {
    throw Error(std::string(loss) + ": model output " + output.str() + " and targets " + target.str() +
                " must have the same shape");
  }
}

}  // namespace

const std::vector<std::string>& objective_names() {
  static const std::vector<std::string> names = {"sparse_categorical_crossentropy", "categorical_crossentropy",
                                                 "binary_crossentropy", "mse", "mae"};
  return names;
}

Objective objective_by_name(const std::string& name) {
  if (name == "sparse_categorical_crossentropy") {
    return {name, [](const Tensor& logits, const Tensor& target) {
              return cross_entropy(logits, target, -100, 0.0, Reduction::none);
            }};
  }
  if (name == "categorical_crossentropy") {
    return {name, [](const Tensor& logits, const Tensor& target) {
              check_same_shape("categorical_crossentropy", logits, target);
              // -Σ_c t_c · log_softmax(z)_c along the class dimension 1.
              return neg(sum(mul(target.to(logits.dtype()), log_softmax(logits, 1)), {1}));
            }};
  }
  if (name == "binary_crossentropy") {
    return {name, [](const Tensor& logits, const Tensor& target) {
              check_same_shape("binary_crossentropy", logits, target);
              return per_row_mean(binary_cross_entropy_with_logits(logits, target.to(logits.dtype()), Reduction::none));
            }};
  }
  if (name == "mse") {
    return {name, [](const Tensor& out, const Tensor& target) {
              check_same_shape("mse", out, target);
              return per_row_mean(mse_loss(out, target.to(out.dtype()), Reduction::none));
            }};
  }
  if (name == "mae") {
    return {name, [](const Tensor& out, const Tensor& target) {
              check_same_shape("mae", out, target);
              return per_row_mean(abs(sub(out, target.to(out.dtype()))));
            }};
  }
  std::string known;
  for (const auto& n : objective_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown loss '" + name + "' (available: " + known + ")");
}

}  // namespace kiln::train
