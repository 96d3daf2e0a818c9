#include "kiln/nn/gru.h"

#include "kiln/nn/init.h"

namespace kiln::nn {

GRU::GRU(const GRUOptions& options, Generator& gen) : Recurrent(Cell::gru, options, gen) {}

GRU::GRU(const GRUOptions& options) : GRU(options, default_generator()) {}

}  // namespace kiln::nn
