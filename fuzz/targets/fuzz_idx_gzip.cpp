// IDX through the streaming gzip reader: the input is the decompressed file,
// compressed here (split into two gzip members when the input's first byte is
// odd), so every run exercises inflate on a valid stream.
#include <zlib.h>

#include <vector>

#include "fuzz_util.h"
#include "kiln/io/idx.h"

namespace {

void gzip_append(std::vector<std::uint8_t>& out, const std::uint8_t* data, std::size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::vector<std::uint8_t> buf(deflateBound(&zs, size) + 64);
  zs.next_in = const_cast<std::uint8_t*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = buf.data();
  zs.avail_out = static_cast<uInt>(buf.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(zs.total_out));
  deflateEnd(&zs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static kiln::fuzz::MemFile file("fuzz.idx.gz");
  std::vector<std::uint8_t> gz;
  const std::size_t split = (size > 0 && (data[0] & 1)) ? size / 2 : size;
  gzip_append(gz, data, split);
  if (split < size) gzip_append(gz, data + split, size - split);
  try {
    (void)kiln::io::read_idx(file.write(gz.data(), gz.size()));
  } catch (const kiln::Error&) {
  }
  return 0;
}
