#pragma once
// Umbrella header for optimizers, schedules, gradient clipping and weight penalties.
#include "kiln/optim/adagrad.h"
#include "kiln/optim/adam.h"
#include "kiln/optim/clip_grad.h"
#include "kiln/optim/lr_scheduler.h"
#include "kiln/optim/optimizer.h"
#include "kiln/optim/regularization.h"
#include "kiln/optim/rmsprop.h"
#include "kiln/optim/sgd.h"
