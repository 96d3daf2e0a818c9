#include "kiln/io/idx.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>

#include "kiln/io/byte_source.h"

namespace kiln::io {
namespace {

std::size_t idx_type_size(std::uint8_t code) {
  switch (code) {
    case 0x08: return 1;  // unsigned byte
    case 0x09: return 1;  // signed byte
    case 0x0B: return 2;  // short
    case 0x0C: return 4;  // int
    case 0x0D: return 4;  // float
    case 0x0E: return 8;  // double
    default: return 0;
  }
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// What the caller insists on: the full 32-bit magic (type code and dimension count).
struct Expect {
  std::uint32_t magic;
  const char* meaning;  // for messages: "unsigned bytes, 3 dims"
};

IdxArray read_idx_impl(const std::filesystem::path& path, const std::optional<Expect>& expect,
                       const std::string& missing_hint = "") {
  const std::string prefix = "IDX file '" + path.string() + "': ";
  const auto src = open_byte_source(path, "IDX file", missing_hint);

  std::uint8_t head[4];
  const std::size_t hn = src->read(head, 4);
  if (hn < 4) throw Error(prefix + "truncated: " + std::to_string(hn) + " bytes, too short for the 4-byte magic");
  const std::uint32_t magic = (std::uint32_t{head[0]} << 24) | (std::uint32_t{head[1]} << 16) |
                              (std::uint32_t{head[2]} << 8) | head[3];
  if (head[0] != 0 || head[1] != 0) throw Error(prefix + "bad magic " + hex32(magic) + ": not an IDX file");
  if (expect && magic != expect->magic) {
    throw Error(prefix + "wrong magic " + hex32(magic) + ", expected " + hex32(expect->magic) + " (" +
                expect->meaning + ")");
  }
  IdxArray out;
  out.type_code = head[2];
  const std::size_t esize = idx_type_size(out.type_code);
  if (esize == 0) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", out.type_code);
    throw Error(prefix + "unknown IDX type code " + code + " (known: 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)");
  }

  const std::size_t ndims = head[3];
  std::vector<std::uint8_t> dimbytes(4 * ndims);
  const std::size_t dn = src->read(dimbytes.data(), dimbytes.size());
  if (dn < dimbytes.size()) {
    throw Error(prefix + "truncated inside the header: " + std::to_string(ndims) + " dimensions need " +
                std::to_string(dimbytes.size()) + " bytes, got " + std::to_string(dn));
  }
  // The byte count the dims call for, overflow-checked; it bounds every read below.
  std::uint64_t expected = esize;
  bool overflow = false;
  for (std::size_t i = 0; i < ndims; ++i) {
    const std::uint8_t* b = &dimbytes[4 * i];
    const std::uint32_t d = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    out.dims.push_back(d);
    if (d != 0 && expected > std::numeric_limits<std::uint64_t>::max() / d) overflow = true;
    expected *= d;
  }
  if (overflow || expected > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(prefix + "dimensions " + shape_str(out.dims) + " describe more data than can exist");
  }

  // Read in chunks, growing the buffer as data arrives, rather than trusting
  // `expected` for one allocation: a corrupt header cannot make us allocate more
  // than the data that actually arrives (plus one chunk).
  constexpr std::size_t kChunk = 1 << 20;
  std::uint64_t have = 0;
  for (;;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, expected - have + 1));
    out.data.resize(static_cast<std::size_t>(have) + want);
    const std::size_t r = src->read(out.data.data() + have, want);
    have += r;
    if (have > expected) {
      throw Error(prefix + "trailing bytes: dimensions " + shape_str(out.dims) + " call for " +
                  std::to_string(expected) + " data bytes but the " +
                  (src->compressed() ? "decompressed " : "") + "file holds more");
    }
    if (r < want) break;  // end of stream
  }
  out.data.resize(static_cast<std::size_t>(have));
  if (have < expected) {
    throw Error(prefix + "truncated: dimensions " + shape_str(out.dims) + " call for " + std::to_string(expected) +
                " data bytes but the " + (src->compressed() ? "decompressed " : "") + "file holds " +
                std::to_string(have));
  }
  return out;
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path) { return read_idx_impl(path, std::nullopt); }

namespace {

LabeledImages load_idx_dataset_impl(const std::filesystem::path& images, const std::filesystem::path& labels,
                                    int num_classes, const std::string& missing_hint) {
  if (num_classes < 1 || num_classes > 256) {
    throw Error("load_idx_dataset: num_classes must be in [1, 256], got " + std::to_string(num_classes));
  }
  IdxArray img = read_idx_impl(images, Expect{0x00000803, "image file: unsigned bytes, 3 dims"}, missing_hint);
  IdxArray lab = read_idx_impl(labels, Expect{0x00000801, "label file: unsigned bytes, 1 dim"}, missing_hint);
  if (img.dims[0] != lab.dims[0]) {
    throw Error("load_idx_dataset: image file '" + images.string() + "' holds " + std::to_string(img.dims[0]) +
                " images but label file '" + labels.string() + "' holds " + std::to_string(lab.dims[0]) + " labels");
  }
  LabeledImages out;
  out.labels = Tensor::empty({lab.dims[0]}, DType::i64);
  std::int64_t* lp = out.labels.data<std::int64_t>();
  for (std::size_t i = 0; i < lab.data.size(); ++i) {
    if (lab.data[i] >= num_classes) {
      throw Error("IDX file '" + labels.string() + "': label " + std::to_string(lab.data[i]) + " at index " +
                  std::to_string(i) + " is outside [0, " + std::to_string(num_classes) + ")");
    }
    lp[i] = lab.data[i];
  }
  out.images = Tensor::empty(img.dims, DType::u8);
  if (!img.data.empty()) std::memcpy(out.images.data<std::uint8_t>(), img.data.data(), img.data.size());
  return out;
}

}  // namespace

LabeledImages load_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                               int num_classes) {
  return load_idx_dataset_impl(images, labels, num_classes, "");
}

LabeledImages load_fashion_mnist(const std::filesystem::path& dir, bool train) {
  const std::string split = train ? "train" : "t10k";
  const std::string hint = dir == kFashionMnistDir
                               ? "install the data set with `apt-get install dataset-fashion-mnist`"
                               : "expected Fashion-MNIST files here (or `apt-get install dataset-fashion-mnist` "
                                 "for " + kFashionMnistDir.string() + ")";
  return load_idx_dataset_impl(dir / (split + "-images-idx3-ubyte.gz"), dir / (split + "-labels-idx1-ubyte.gz"), 10,
                               hint);
}

}  // namespace kiln::io
