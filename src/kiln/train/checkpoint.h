#pragma once
// Training checkpoints: one safetensors file holding every tensor of the run
// (model parameters and buffers, optimizer moments, best weights kept by
// callbacks) plus a JSON document in the "__metadata__" entry "kiln.checkpoint"
// with the scalar state (epoch, step, data position, RNG states, callback
// state). Saving is atomic (temporary file, fsync, rename, directory fsync), so
// a crash or kill -9 at any moment leaves the previous checkpoint intact.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "kiln/nn/state_dict.h"

namespace kiln::train {

/// Value of the metadata key "kiln.format" in every kiln checkpoint.
inline constexpr const char* kCheckpointFormat = "kiln-checkpoint-1";

struct Checkpoint {
  nn::StateDict tensors;   ///< views of the mapped file (copy-on-write)
  nlohmann::json state;    ///< the "kiln.checkpoint" document
};

/// Writes `tensors` and `state` to `path` atomically. Fails cleanly (kiln::Error
/// naming the path and the cause; the previous file at `path` untouched) when the
/// directory is missing, the file is not writable or the disk is full.
void save_checkpoint(const std::filesystem::path& path, const nn::StateDict& tensors, const nlohmann::json& state);

/// Reads a checkpoint written by save_checkpoint; throws naming the file when it
/// is not a safetensors file, not a kiln checkpoint, or its state is malformed.
Checkpoint load_checkpoint(const std::filesystem::path& path);

}  // namespace kiln::train
