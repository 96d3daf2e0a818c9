#pragma once
// Registration of the CPU backend's kernels into the tables of ops/kernels.h.
#include <cstdint>

#include "kiln/core/dtype.h"

namespace kiln::cpu {

void register_cpu_backend();  // memory + every kernel family below
void register_elementwise_kernels();
void register_reduce_kernels();
void register_matmul_kernels();
void register_q8_0_kernels();
void register_random_kernels();
void register_nn_kernels();
void register_index_kernels();
void register_conv_kernels();
void register_pool_kernels();
void register_batch_norm_kernels();
void register_optim_kernels();
void register_rnn_kernels();
void register_loss_kernels();
void register_attention_kernels();
void register_lm_head_kernels();

template <class F>
void visit_float_dtypes(F&& f) {
  f(float{});
  f(double{});
  f(bf16{});
  f(f16{});
}

template <class F>
void visit_all_dtypes(F&& f) {
  visit_float_dtypes(f);
  f(std::int32_t{});
  f(std::int64_t{});
  f(std::uint8_t{});
  f(bool{});
}

}  // namespace kiln::cpu
