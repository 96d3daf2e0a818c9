#pragma once
// Subcommands of the `kiln` executable. Each adds itself to the app with its
// options and a callback that does the work; errors are thrown as kiln::Error
// and reported by main().
#include <CLI/CLI.hpp>

namespace kiln::cli {

/// `kiln train [CONFIG]`: runs an experiment config, or the built-in Fashion-MNIST MLP.
void add_train_command(CLI::App& app);
/// `kiln eval CONFIG`: test metrics of a finished run.
void add_eval_command(CLI::App& app);
/// `kiln predict CONFIG --input FILE`: classes of new inputs.
void add_predict_command(CLI::App& app);
/// `kiln tokenize encode|decode|count|train`: byte-level BPE tokenizers.
void add_tokenize_command(CLI::App& app);
/// `kiln inspect FILE`: header, metadata and tensors of a safetensors, GGUF or IDX file.
void add_inspect_command(CLI::App& app);
/// `kiln generate --model DIR [PROMPT]`: text from a GPT, streamed.
void add_generate_command(CLI::App& app);
/// `kiln convert IN OUT`: GPT-2 between Hugging Face layout and GGUF.
void add_convert_command(CLI::App& app);
/// `kiln data prepare`: text into train.bin / val.bin token files for language-model training.
void add_data_command(CLI::App& app);

}  // namespace kiln::cli
