// Frees cairo's and fontconfig's process-wide font caches after the last test.
// Fontconfig keeps what it parsed from its configuration files until FcFini,
// which LeakSanitizer (scripts/test.sh runs the unit tests with detect_leaks=1)
// would otherwise report as leaked by every test that draws text.
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <gtest/gtest.h>

namespace {

class FontCacheTeardown : public ::testing::Environment {
 public:
  void TearDown() override {
    cairo_debug_reset_static_data();  // drops cairo's references to fontconfig patterns first
    FcFini();
  }
};

// gtest owns and deletes the environment.
[[maybe_unused]] ::testing::Environment* const kTeardown = ::testing::AddGlobalTestEnvironment(new FontCacheTeardown);

}  // namespace
