// GGUF: parse_gguf must accept or throw kiln::Error, never read outside the
// input; accepted files must dequantize cleanly and survive a write/read round
// trip unchanged.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "fuzz_util.h"
#include "kiln/io/gguf.h"

using namespace kiln::io;

namespace {

std::vector<std::byte> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::vector<GgufTensorData> tensor_data(const GgufHeader& h, std::span<const std::byte> file) {
  std::vector<GgufTensorData> out;
  for (const auto& t : h.tensors) {
    if (h.data_offset + t.offset + t.nbytes > file.size()) kiln::fuzz::finding("accepted tensor lies outside the file");
    const auto bytes = file.subspan(h.data_offset + t.offset, t.nbytes);
    switch (t.type) {
      case GgmlType::f32: case GgmlType::f16: case GgmlType::bf16: case GgmlType::q8_0: case GgmlType::q4_0: {
        std::vector<float> v(static_cast<std::size_t>(t.numel));
        gguf_dequantize(t.type, bytes, v);  // throwing here would be a parser bug: libFuzzer reports it
        break;
      }
      default: break;
    }
    out.push_back({t.name, t.type, t.shape, bytes});
  }
  return out;
}

// Round trips write to tmpfs (fsync is free there); skipped without one.
const char* scratch_dir() {
  static const char* dir = [] {
    const char* d = std::getenv("FUZZ_SCRATCH_DIR");
    if (d == nullptr) d = "/dev/shm";
    return ::access(d, W_OK) == 0 ? d : nullptr;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  GgufHeader h;
  try {
    h = parse_gguf(file, "fuzz.gguf");
  } catch (const kiln::Error&) {
    return 0;
  }
  const auto tensors = tensor_data(h, file);

  // The writer pads to the alignment even without tensors: keep files small.
  if (scratch_dir() == nullptr || h.alignment > 65536) return 0;
  const std::string base = std::string(scratch_dir()) + "/kiln-fuzz-gguf-" + std::to_string(::getpid());
  try {
    write_gguf(base + "-1.gguf", h.metadata, tensors);
  } catch (const kiln::Error&) {
    return 0;  // the writer may refuse what the reader accepts (names of 64+ bytes)
  }
  const auto out1 = slurp(base + "-1.gguf");
  GgufHeader h1;
  try {
    h1 = parse_gguf(out1, "round-trip.gguf");
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    kiln::fuzz::finding("the reader rejects what the writer wrote");
  }
  const auto tensors1 = tensor_data(h1, out1);
  if (tensors1.size() != tensors.size()) kiln::fuzz::finding("tensor count changed in the round trip");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& a = tensors[i];
    const auto& b = tensors1[i];
    if (a.name != b.name || a.type != b.type || a.shape != b.shape || a.data.size() != b.data.size() ||
        (!a.data.empty() && std::memcmp(a.data.data(), b.data.data(), a.data.size()) != 0)) {
      kiln::fuzz::finding("a tensor changed in the round trip");
    }
  }
  // Metadata: writing what was read back must give the same bytes (NaN-safe, unlike ==).
  write_gguf(base + "-2.gguf", h1.metadata, tensors1);
  if (slurp(base + "-2.gguf") != out1) kiln::fuzz::finding("metadata changed in the round trip");
  ::unlink((base + "-1.gguf").c_str());
  ::unlink((base + "-2.gguf").c_str());
  return 0;
}
