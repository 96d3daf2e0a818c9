#pragma once
// Subcommands of the `kiln` executable. Each adds itself to the app with its
// options and a callback that does the work; errors are thrown as kiln::Error
// and reported by main().
#include <CLI/CLI.hpp>

namespace kiln::cli {

/// `kiln train`: trains a classifier on Fashion-MNIST and reports test accuracy.
void add_train_command(CLI::App& app);

}  // namespace kiln::cli
