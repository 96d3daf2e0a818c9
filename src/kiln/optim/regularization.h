#pragma once
// Weight penalties added to the loss (Keras kernel_regularizer semantics).
#include <vector>

#include "kiln/core/tensor.h"

namespace kiln::optim {

/// l1·Σ|w| + l2·Σw² over every element of every tensor in `params`, as a
/// scalar tensor that records its graph, so the caller adds it to the loss:
///
///     const Tensor loss = add(cross_entropy(logits, y), l1_l2_penalty(model.parameters(), 0.0, 1e-4));
///
/// Unlike weight_decay in SGD/Adam, the penalty's gradient flows through
/// backward() and any clipping. The derivative of |w| at 0 is taken as 0.
/// A term whose coefficient is 0 is skipped; with both 0 the result is a
/// constant 0 of the parameters' dtype. All tensors must share dtype and
/// device; l1 and l2 must be >= 0.
Tensor l1_l2_penalty(const std::vector<Tensor>& params, double l1, double l2);

}  // namespace kiln::optim
