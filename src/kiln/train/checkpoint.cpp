#include "kiln/train/checkpoint.h"

#include <map>
#include <system_error>

#include "kiln/io/safetensors.h"
#include "kiln/text/escape.h"

namespace kiln::train {

void save_checkpoint(const std::filesystem::path& path, const nn::StateDict& tensors, const nlohmann::json& state) {
  namespace fs = std::filesystem;
  // A clearer message than the temporary file's open() failure.
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("checkpoint '" + path.string() + "': directory '" + dir.string() + "' does not exist");
  }
  const std::map<std::string, std::string> metadata = {{"kiln.format", kCheckpointFormat},
                                                       {"kiln.checkpoint", state.dump()}};
  io::save_safetensors(path, tensors.entries(), metadata);
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  const auto& meta = file.metadata();
  const auto format = meta.find("kiln.format");
  if (format == meta.end() || format->second != kCheckpointFormat) {
    throw Error("checkpoint '" + path.string() + "': not a kiln checkpoint (metadata 'kiln.format' is " +
                (format == meta.end() ? std::string("absent") : text::quote_for_terminal(format->second)) + ", expected '" +
                std::string(kCheckpointFormat) + "')");
  }
  const auto state = meta.find("kiln.checkpoint");
  if (state == meta.end()) throw Error("checkpoint '" + path.string() + "': metadata 'kiln.checkpoint' is missing");
  Checkpoint ckpt;
  try {
    ckpt.state = nlohmann::json::parse(state->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint '" + path.string() + "': metadata 'kiln.checkpoint' is not valid JSON: " + e.what());
  }
  if (!ckpt.state.is_object()) throw Error("checkpoint '" + path.string() + "': metadata 'kiln.checkpoint' is not a JSON object");
  for (const io::SafetensorsEntry& e : file.entries()) {
    try {
      ckpt.tensors.add(e.name, file.tensor(e.name));
    } catch (const Error& err) {
      throw Error("checkpoint '" + path.string() + "': tensor " + text::quote_for_terminal(e.name) + ": " + err.what());
    }
  }
  return ckpt;
}

}  // namespace kiln::train
