// IDX as stored: plain, or gzip when the input starts with the gzip magic.
// An accepted file holds exactly the data its dimensions call for.
#include "fuzz_util.h"
#include "kiln/io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fuzz.idx");
  kiln::io::IdxArray a;
  try {
    a = kiln::io::read_idx(file.write(data, size));
  } catch (const kiln::Error&) {
    return 0;
  }
  const std::uint8_t code = a.type_code;
  std::uint64_t n = code == 0x0B ? 2 : (code == 0x0C || code == 0x0D) ? 4 : code == 0x0E ? 8 : 1;
  for (const auto d : a.dims) n *= static_cast<std::uint64_t>(d);
  if (n != a.data.size()) kiln::fuzz::finding("IDX data size differs from its dimensions");
  return 0;
}
