// fortune(6) text files.
#include "fuzz_util.h"
#include "kiln/io/fortunes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fortunes");
  try {
    kiln::io::FortuneReader reader(file.write(data, size));
    kiln::io::Fortune f;
    std::size_t expected = 0;
    while (reader.next(f)) {
      if (f.index != expected++) kiln::fuzz::finding("fortune index out of order");
    }
  } catch (const kiln::Error&) {
  }
  return 0;
}
