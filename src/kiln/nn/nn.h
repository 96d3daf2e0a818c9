#pragma once
// Umbrella header for the layer library.
#include "kiln/nn/activation.h"
#include "kiln/nn/dropout.h"
#include "kiln/nn/init.h"
#include "kiln/nn/linear.h"
#include "kiln/nn/module.h"
#include "kiln/nn/sequential.h"
