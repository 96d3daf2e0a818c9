#pragma once
// The CPU's arithmetic peak, measured (not looked up) so that model-FLOPs
// utilisation (MFU) is judged against what this machine does in this run:
// the CPU changes between machines and turbo clocks move with load.
namespace kiln {

struct MachinePeak {
  double f32_gflops = 0.0;   ///< f32 fused multiply-add rate (2 FLOPs per lane per FMA)
  double bf16_gflops = 0.0;  ///< bf16 dot-product rate (vdpbf16ps), 0 when the CPU has none
};

/// Measures both peaks on `threads` threads (about 100 ms). Uses 512-bit
/// instructions where the CPU has AVX-512, else 256-bit FMA.
MachinePeak measure_machine_peak(int threads);

}  // namespace kiln
