#pragma once
// Recognises the array/model file formats kiln reads from their content
// (magic bytes and structure), never from the file name.
#include <filesystem>

namespace kiln::io {

enum class FileFormat {
  safetensors,  ///< u64 little-endian header length, then a JSON object ('{')
  gguf,         ///< "GGUF"
  idx,          ///< 00 00, a known IDX type code, a dimension count
  idx_gzip,     ///< gzip (1f 8b) whose decompressed data starts like IDX
};

/// "safetensors", "GGUF", "IDX", "IDX (gzip)".
const char* file_format_name(FileFormat format);

/// Looks at the first bytes of `path` (decompressing the start of a gzip file)
/// and says which format they belong to. Only the start is checked: the
/// format's reader validates the rest. Throws kiln::Error "<path>: <problem>"
/// for a missing, unreadable, empty or unrecognised file, and for gzip data that
/// is corrupt or is not IDX.
FileFormat detect_file_format(const std::filesystem::path& path);

}  // namespace kiln::io
