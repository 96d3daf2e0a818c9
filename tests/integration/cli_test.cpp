// Runs the real `kiln` binary (KILN_BINARY) and checks what a user sees:
// help text, a short training run, and clear errors for bad input.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "kiln_process.h"

namespace {

using namespace kiln_it;

const char* const kRealData = "/usr/share/datasets/fashion-mnist";

// ---- help and version ----------------------------------------------------------

const std::vector<std::pair<std::string, std::string>> kTrainOptions = {
    {"--data", kRealData}, {"--epochs", "10"}, {"--batch-size", "128"}, {"--lr", "0.001"},
    {"--optimizer", "adam"}, {"--momentum", "0.9"}, {"--weight-decay", "0"}, {"--seed", "0"},
    {"--threads", ""},     {"--model", "mlp"},  {"--limit", "0"},        {"--log-every", "100"}};

/// Every train option appears, and the text up to the next option names its default.
void expect_options_with_defaults(const std::string& help) {
  for (std::size_t i = 0; i < kTrainOptions.size(); ++i) {
    const auto& [name, value] = kTrainOptions[i];
    const std::size_t at = help.find("  " + name + " ");
    ASSERT_NE(at, std::string::npos) << name << " missing from help:\n" << help;
    const std::size_t next = i + 1 < kTrainOptions.size() ? help.find("  " + kTrainOptions[i + 1].first + " ", at)
                                                          : help.size();
    const std::string entry = help.substr(at, next - at);
    EXPECT_NE(entry.find("[default: " + value), std::string::npos) << name << " entry lacks its default: " << entry;
  }
}

TEST(Cli, TopLevelHelpListsEveryOptionWithDefault) {
  const Result r = run_kiln({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("--version"), std::string::npos);
  EXPECT_NE(r.out.find("train"), std::string::npos);
  expect_options_with_defaults(r.out);
}

TEST(Cli, TrainHelpListsEveryOptionWithDefault) {
  const Result r = run_kiln({"train", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Usage: kiln train"), std::string::npos) << r.out;
  expect_options_with_defaults(r.out);
}

TEST(Cli, Version) {
  const Result r = run_kiln({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^kiln \d+\.\d+\.\d+)"))) << r.out;
}

// ---- bad command lines ----------------------------------------------------------

TEST(Cli, NoCommandIsAnError) { expect_clean_error(run_kiln({}), "subcommand"); }
TEST(Cli, UnknownOption) { expect_clean_error(run_kiln({"train", "--bogus"}), "--bogus"); }
TEST(Cli, BadOptionValues) {
  expect_clean_error(run_kiln({"train", "--epochs", "0"}), "--epochs");
  expect_clean_error(run_kiln({"train", "--lr", "fast"}), "--lr");
  expect_clean_error(run_kiln({"train", "--batch-size", "-5"}), "--batch-size");
  expect_clean_error(run_kiln({"train", "--seed", "-1"}), "--seed");
  expect_clean_error(run_kiln({"train", "--optimizer", "rmsprop"}), "rmsprop");
}
TEST(Cli, ThreadsDefaultFollowsEnvironment) {
  const Result r = run_kiln({"train", "--help"}, {"KILN_NUM_THREADS=3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::size_t at = r.out.find("--threads");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(r.out.find("[default: 3]", at), std::string::npos) << r.out;
  expect_clean_error(run_kiln({"train", "--help"}, {"KILN_NUM_THREADS=lots"}), "KILN_NUM_THREADS");
}
TEST(Cli, UnknownModel) { expect_clean_error(run_kiln({"train", "--model", "transformer"}), "transformer"); }

// ---- data problems ---------------------------------------------------------------

TEST(Cli, MissingDataDirectoryNamesThePath) {
  const TempDir tmp;
  const fs::path missing = tmp.path() / "no-such-dir";
  expect_clean_error(run_kiln({"train", "--data", missing.string(), "--epochs", "1"}), missing.string());
}

/// IDX bytes: magic (0, 0, 0x08, ndims), big-endian dims, then data.
std::string idx_bytes(const std::vector<std::uint32_t>& dims, std::size_t data_bytes, std::uint8_t fill = 0) {
  std::string b = {'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (const std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<char>((d >> shift) & 0xFF));
  }
  b.append(data_bytes, static_cast<char>(fill));
  return b;
}

void write_gz(const fs::path& p, const std::string& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr) << p;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

/// A tiny but valid Fashion-MNIST-shaped directory: n train and n test images.
void write_tiny_dataset(const fs::path& dir, std::uint32_t n) {
  for (const char* split : {"train", "t10k"}) {
    write_gz(dir / (std::string(split) + "-images-idx3-ubyte.gz"), idx_bytes({n, 28, 28}, n * 784U, 7));
    std::string labels = idx_bytes({n}, 0);
    for (std::uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<char>(i % 10));
    labels[2] = '\x08';
    write_gz(dir / (std::string(split) + "-labels-idx1-ubyte.gz"), labels);
  }
}

TEST(Cli, TrainsOnATinyValidDataset) {
  const TempDir tmp;
  write_tiny_dataset(tmp.path(), 20);
  const Result r = run_kiln({"train", "--data", tmp.path().string(), "--epochs", "2", "--batch-size", "8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(epoch 2/2: \d+\.\d+ s)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\ntest accuracy: [01]\.\d{4}\n)"))) << r.out;
}

TEST(Cli, CorruptIdxFilesAreNamed) {
  const std::string images = "train-images-idx3-ubyte.gz", labels = "train-labels-idx1-ubyte.gz";
  struct Case {
    const char* what;
    std::string file;
    std::function<void(const fs::path&)> damage;
  };
  const std::vector<Case> cases = {
      {"wrong magic", images,
       [&](const fs::path& d) { write_gz(d / images, std::string("\x12\x34\x56\x78", 4) + std::string(64, '\0')); }},
      {"label magic in the image file", images,
       [&](const fs::path& d) {
         std::string b = idx_bytes({20}, 20);
         write_gz(d / images, b.replace(3, 1, "\x01"));
       }},
      {"truncated", images, [&](const fs::path& d) { write_gz(d / images, idx_bytes({20, 28, 28}, 20 * 784 - 100)); }},
      {"truncated header", images, [&](const fs::path& d) { write_gz(d / images, std::string("\0\0\x08\x03\0\0", 6)); }},
      {"not gzip", labels, [&](const fs::path& d) { write_raw(d / labels, "this is plain text, not gzip\n"); }},
      {"count mismatch", images, [&](const fs::path& d) { write_gz(d / images, idx_bytes({19, 28, 28}, 19 * 784)); }},
      {"missing file", labels, [&](const fs::path& d) { fs::remove(d / labels); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const TempDir tmp;
    write_tiny_dataset(tmp.path(), 20);
    c.damage(tmp.path());
    const Result r = run_kiln({"train", "--data", tmp.path().string(), "--epochs", "1"});
    expect_clean_error(r, c.file);
  }
}

// ---- the real dataset ------------------------------------------------------------

TEST(Cli, ShortRunOnFashionMnist) {
  if (!fs::exists(fs::path(kRealData) / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST not found in " << kRealData;
  }
  const Result r = run_kiln({"train", "--epochs", "1", "--limit", "2000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("data: 2000 training and 10000 test images"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(\ntest accuracy: (0\.\d{4})\n)"))) << r.out;
  // 16 Adam steps on 2000 images already beat chance (0.1) by far.
  EXPECT_GT(std::stod(m[1].str()), 0.5) << r.out;
}

}  // namespace
