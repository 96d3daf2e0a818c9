#include "kiln/nn/lstm.h"

#include "kiln/nn/init.h"

namespace kiln::nn {

LSTM::LSTM(const LSTMOptions& options, Generator& gen) : Recurrent(Cell::lstm, options, gen) {}

LSTM::LSTM(const LSTMOptions& options) : LSTM(options, default_generator()) {}

}  // namespace kiln::nn
