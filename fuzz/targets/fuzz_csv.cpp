// CSV: the first input byte picks the options (delimiter, label column or not,
// a small record limit); the rest is the file.
#include "fuzz_util.h"
#include "kiln/io/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fuzz.csv");
  if (size == 0) return 0;
  const std::uint8_t opt = data[0];
  kiln::io::CsvOptions o;
  o.delimiter = ",\t;|"[opt & 3];
  if (opt & 4) o.label_column.clear();
  if (opt & 8) o.max_record_bytes = 64;
  try {
    kiln::io::CsvReader reader(file.write(data + 1, size - 1), o);
    kiln::fuzz::drain_records(reader);
  } catch (const kiln::Error&) {
  }
  return 0;
}
