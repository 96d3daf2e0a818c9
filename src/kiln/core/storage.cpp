#include "kiln/core/storage.h"

namespace kiln {

Storage::Storage(std::size_t nbytes, Device device)
    : data_(backend_for(device.kind).allocate(nbytes, device.index)), nbytes_(nbytes), device_(device) {}

Storage::Storage(void* data, std::size_t nbytes, Device device, std::function<void()> release)
    : data_(data), nbytes_(nbytes), device_(device), release_(std::move(release)) {}

Storage::~Storage() {
  if (release_) {
    release_();
  } else if (data_ != nullptr) {
    backend_for(device_.kind).deallocate(data_, nbytes_, device_.index);
  }
}

}  // namespace kiln
