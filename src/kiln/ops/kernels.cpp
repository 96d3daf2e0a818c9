#include "kiln/ops/kernels.h"

namespace kiln {

#define KILN_KERNEL_TABLE(fn, Sig, name)   \
  KernelTable<Sig>& fn() {                 \
    static KernelTable<Sig> table(name);   \
    return table;                          \
  }

KILN_KERNEL_TABLE(copy_kernels, CopyKernel, "copy")
KILN_KERNEL_TABLE(fill_kernels, FillKernel, "fill")
KILN_KERNEL_TABLE(unary_kernels, UnaryKernel, "unary")
KILN_KERNEL_TABLE(binary_kernels, BinaryKernel, "binary")
KILN_KERNEL_TABLE(compare_kernels, CompareKernel, "compare")
KILN_KERNEL_TABLE(where_kernels, WhereKernel, "where")
KILN_KERNEL_TABLE(reduce_kernels, ReduceKernel, "reduce")
KILN_KERNEL_TABLE(argmax_kernels, ArgmaxKernel, "argmax")
KILN_KERNEL_TABLE(matmul_kernels, MatmulKernel, "matmul")
KILN_KERNEL_TABLE(linear_kernels, LinearKernel, "linear")
KILN_KERNEL_TABLE(quantize_q8_0_kernels, QuantizeQ8_0Kernel, "quantize_q8_0")
KILN_KERNEL_TABLE(linear_q8_0_kernels, LinearQ8_0Kernel, "linear_q8_0")
KILN_KERNEL_TABLE(softmax_kernels, SoftmaxKernel, "softmax")
KILN_KERNEL_TABLE(softmax_backward_kernels, SoftmaxBackwardKernel, "softmax_backward")
KILN_KERNEL_TABLE(cross_entropy_kernels, CrossEntropyKernel, "cross_entropy")
KILN_KERNEL_TABLE(cross_entropy_backward_kernels, CrossEntropyBackwardKernel, "cross_entropy_backward")
KILN_KERNEL_TABLE(layer_norm_kernels, LayerNormKernel, "layer_norm")
KILN_KERNEL_TABLE(layer_norm_backward_kernels, LayerNormBackwardKernel, "layer_norm_backward")
KILN_KERNEL_TABLE(index_select_kernels, IndexSelectKernel, "index_select")
KILN_KERNEL_TABLE(index_add_kernels, IndexAddKernel, "index_add")
KILN_KERNEL_TABLE(gather_kernels, GatherKernel, "gather")
KILN_KERNEL_TABLE(scatter_add_kernels, ScatterAddKernel, "scatter_add")
KILN_KERNEL_TABLE(random_kernels, RandomKernel, "random")
KILN_KERNEL_TABLE(im2col_kernels, Im2colKernel, "im2col")
KILN_KERNEL_TABLE(col2im_kernels, Col2imKernel, "col2im")
KILN_KERNEL_TABLE(max_pool2d_kernels, MaxPool2dKernel, "max_pool2d")
KILN_KERNEL_TABLE(max_pool2d_backward_kernels, MaxPool2dBackwardKernel, "max_pool2d_backward")

#undef KILN_KERNEL_TABLE

}  // namespace kiln
