#pragma once
// oneDNN's direct convolution as the CPU's conv2d kernels (f32); see conv_dnnl.cpp.
namespace kiln::cpu {

/// Registers the forward and backward kernels of ops/conv_kernels.h for f32.
void register_conv_dnnl_kernels();

}  // namespace kiln::cpu
