// JSONL: the first input byte picks the options (label field or not, a small
// line limit); the rest is the file.
#include "fuzz_util.h"
#include "kiln/io/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fuzz.jsonl");
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  kiln::io::JsonlOptions o;
  if (opt & 1) o.label_field.clear();
  if (opt & 2) o.max_line_bytes = 64;
  try {
    kiln::io::JsonlReader reader(file.write(data + 1, size - 1), o);
    kiln::fuzz::drain_records(reader);
  } catch (const kiln::Error&) {
  }
  return 0;
}
