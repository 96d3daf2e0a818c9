#pragma once
// Subcommands of the `kiln` executable. Each adds itself to the app with its
// options and a callback that does the work; errors are thrown as kiln::Error
// and reported by main().
#include <CLI/CLI.hpp>

namespace kiln::cli {

/// `kiln train`: trains a classifier on Fashion-MNIST and reports test accuracy.
void add_train_command(CLI::App& app);
/// `kiln tokenize encode|decode|count|train`: byte-level BPE tokenizers.
void add_tokenize_command(CLI::App& app);
/// `kiln inspect FILE`: header, metadata and tensors of a safetensors, GGUF or IDX file.
void add_inspect_command(CLI::App& app);

}  // namespace kiln::cli
