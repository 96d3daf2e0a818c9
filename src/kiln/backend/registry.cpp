// Installs every backend compiled into this build, once, on first use.
#include <mutex>

#include "kiln/backend/cpu/register.h"

namespace kiln {

void ensure_backends_registered() {
  static std::once_flag once;
  std::call_once(once, [] { cpu::register_cpu_backend(); });
}

}  // namespace kiln
