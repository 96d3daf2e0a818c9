#pragma once
// kiln::plot: PNG figures drawn with cairo: training curves (line_chart),
// class-coloured point clouds (scatter) and image batches (image_grid). Every
// call validates its input, names the file in its errors and writes atomically.
#include "kiln/plot/image_grid.h"
#include "kiln/plot/line_chart.h"
#include "kiln/plot/palette.h"
#include "kiln/plot/scatter.h"
