// safetensors: open must accept or throw kiln::Error; accepted tensors' bytes
// must lie inside the file (ASan checks every byte read here).
#include "fuzz_util.h"
#include "kiln/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fuzz.safetensors");
  const std::string& path = file.write(data, size);
  try {
    const auto f = kiln::io::SafetensorsFile::open(path);
    std::uint64_t total = 0;
    for (const auto& e : f.entries()) {
      const auto bytes = f.bytes(e.name);
      unsigned sum = 0;
      for (const std::byte b : bytes) sum += std::to_integer<unsigned>(b);
      if (f.entry(e.name).name != e.name || bytes.size() != e.end - e.begin || sum > 255 * bytes.size()) {
        kiln::fuzz::finding("entry lookup disagrees with the entry list");
      }
      total += bytes.size();
    }
    // The data section is tiled exactly, so the tensors cover the file past the header.
    if (total > size) kiln::fuzz::finding("tensors cover more bytes than the file holds");
  } catch (const kiln::Error&) {
  }
  return 0;
}
