// LSTM and GRU forward + backward at the row-LSTM shape (Fashion-MNIST rows:
// batch 64, 28 steps, 28 inputs, hidden 128, last hidden state out), plus a
// bidirectional 2-layer LSTM and inference alone. bench/torch_rnn_bench.py
// times the same shapes in PyTorch for comparison.
// Run: KILN_NUM_THREADS=2 build/bench/bench_rnn --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>

#include "kiln/core/parallel.h"
#include "kiln/nn/gru.h"
#include "kiln/nn/lstm.h"
#include "kiln/ops/ops.h"

namespace {

constexpr std::int64_t kBatch = 64, kSteps = 28, kInputs = 28, kHidden = 128;

// One training step's worth of autograd work: forward, a scalar loss, backward.
template <class Rnn>
void BM_TrainStep(benchmark::State& state, std::int64_t layers, bool bidirectional) {
  kiln::Generator gen(1);
  Rnn rnn({.input_size = kInputs, .hidden_size = kHidden, .num_layers = layers, .bidirectional = bidirectional,
           .batch_first = true},
          gen);
  const kiln::Tensor x = kiln::uniform({kBatch, kSteps, kInputs}, 0, 1, gen);
  for (auto _ : state) {
    rnn.zero_grad();
    const kiln::Tensor loss = kiln::sum(rnn(x));
    loss.backward();
    benchmark::DoNotOptimize(rnn.parameters()[0].grad().raw_data());
  }
  state.counters["sequences/s"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

template <class Rnn>
void BM_Inference(benchmark::State& state) {
  kiln::Generator gen(1);
  Rnn rnn({.input_size = kInputs, .hidden_size = kHidden, .batch_first = true}, gen);
  rnn.eval();
  const kiln::Tensor x = kiln::uniform({kBatch, kSteps, kInputs}, 0, 1, gen);
  kiln::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(rnn(x).raw_data());
  state.counters["sequences/s"] =
      benchmark::Counter(static_cast<double>(kBatch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LstmRowTrainStep(benchmark::State& state) { BM_TrainStep<kiln::nn::LSTM>(state, 1, false); }
void BM_GruRowTrainStep(benchmark::State& state) { BM_TrainStep<kiln::nn::GRU>(state, 1, false); }
void BM_Lstm2LayerBidirectionalTrainStep(benchmark::State& state) { BM_TrainStep<kiln::nn::LSTM>(state, 2, true); }
void BM_LstmRowInference(benchmark::State& state) { BM_Inference<kiln::nn::LSTM>(state); }

}  // namespace

BENCHMARK(BM_LstmRowTrainStep)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_GruRowTrainStep)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_Lstm2LayerBidirectionalTrainStep)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_LstmRowInference)->UseRealTime()->MinTime(1.0);

int main(int argc, char** argv) {
  std::printf("threads %d | batch %lld, steps %lld, inputs %lld, hidden %lld\n", kiln::num_threads(),
              static_cast<long long>(kBatch), static_cast<long long>(kSteps), static_cast<long long>(kInputs),
              static_cast<long long>(kHidden));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
