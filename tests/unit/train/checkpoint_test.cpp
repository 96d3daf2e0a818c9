#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gradcheck.h"
#include "kiln/io/safetensors.h"
#include "kiln/train/checkpoint.h"

namespace kiln::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("kiln_ckpt_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nn::StateDict sample_tensors(float v) {
  nn::StateDict sd;
  sd.add("model.w", Tensor::full({2, 3}, v));
  sd.add("optimizer.group.0.lr", Tensor::scalar(0.125, DType::f64));
  return sd;
}

TEST(Checkpoint, RoundTripsTensorsAndState) {
  const fs::path dir = temp_dir("roundtrip");
  const fs::path path = dir / "run.safetensors";
  save_checkpoint(path, sample_tensors(1.5F), {{"epoch", 3}, {"note", "x"}});
  const Checkpoint c = load_checkpoint(path);
  EXPECT_EQ(c.state.at("epoch").get<int>(), 3);
  EXPECT_EQ(c.tensors.at("model.w").to_vector<float>(), std::vector<float>(6, 1.5F));
  EXPECT_EQ(c.tensors.at("optimizer.group.0.lr").item(), 0.125);
  fs::remove_all(dir);
}

TEST(Checkpoint, MissingDirectoryFailsCleanly) {
  const fs::path dir = temp_dir("nodir");
  const std::string msg =
      test::error_of([&] { save_checkpoint(dir / "missing" / "run.safetensors", sample_tensors(1), {}); });
  test::expect_contains(msg, {"missing", "does not exist"});
  fs::remove_all(dir);
}

TEST(Checkpoint, UnwritableTargetKeepsThePreviousFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const fs::path dir = temp_dir("ro");
  const fs::path path = dir / "run.safetensors";
  save_checkpoint(path, sample_tensors(1), {{"epoch", 1}});
  ::chmod(dir.c_str(), 0500);
  const std::string msg = test::error_of([&] { save_checkpoint(path, sample_tensors(2), {{"epoch", 2}}); });
  ::chmod(dir.c_str(), 0700);
  test::expect_contains(msg, {path.string().c_str()});
  EXPECT_EQ(load_checkpoint(path).state.at("epoch").get<int>(), 1);
  fs::remove_all(dir);
}

TEST(Checkpoint, FullDiskKeepsThePreviousFile) {
  // No full file system is at hand in a test, so a file-size limit stands in for
  // one: write() then fails (EFBIG) on the same path as ENOSPC would.
  const fs::path dir = temp_dir("full");
  const fs::path path = dir / "run.safetensors";
  save_checkpoint(path, sample_tensors(1), {{"epoch", 1}});
  const std::string msg = test::error_of([&] {
    nn::StateDict big;
    big.add("model.w", Tensor::zeros({1 << 20}));
    struct rlimit_guard {
      rlimit_guard() {
        ::signal(SIGXFSZ, SIG_IGN);
        ::getrlimit(RLIMIT_FSIZE, &old);
        rlimit lim = old;
        lim.rlim_cur = 4096;
        ::setrlimit(RLIMIT_FSIZE, &lim);
      }
      ~rlimit_guard() { ::setrlimit(RLIMIT_FSIZE, &old); }
      rlimit old{};
    } guard;
    save_checkpoint(path, big, {{"epoch", 2}});
  });
  test::expect_contains(msg, {"write failed"});
  EXPECT_EQ(load_checkpoint(path).state.at("epoch").get<int>(), 1);
  std::size_t leftovers = 0;
  for (const auto& e : fs::directory_iterator(dir)) leftovers += e.path().filename() != "run.safetensors";
  EXPECT_EQ(leftovers, 0U) << "the temporary file must be removed";
  fs::remove_all(dir);
}

TEST(Checkpoint, RefusesFilesThatAreNotKilnCheckpoints) {
  const fs::path dir = temp_dir("foreign");
  const fs::path path = dir / "plain.safetensors";
  io::save_safetensors(path, {{"w", Tensor::zeros({2})}});
  test::expect_contains(test::error_of([&] { (void)load_checkpoint(path); }), {"not a kiln checkpoint"});
  io::save_safetensors(path, {{"w", Tensor::zeros({2})}}, {{"kiln.format", kCheckpointFormat}, {"kiln.checkpoint", "{oops"}});
  test::expect_contains(test::error_of([&] { (void)load_checkpoint(path); }), {"not valid JSON"});
  std::ofstream(dir / "junk.safetensors") << "garbage";
  test::expect_contains(test::error_of([&] { (void)load_checkpoint(dir / "junk.safetensors"); }), {"junk.safetensors"});
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::train
