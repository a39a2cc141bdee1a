#include "mr/sync/shared_state.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace mr::detail {

SharedBlock SharedBlock::create(std::size_t size, Backing backing, const char* name) {
  SharedBlock b;
  b.region_ = std::make_shared<SharedRegion>(
      backing == Backing::kMemfd ? SharedRegion::memfd(name, size) : SharedRegion::anonymous(size));
  return b;
}

SharedBlock SharedBlock::attach(SharedRegion region, std::size_t size, std::uint32_t magic) {
  if (!region || region.size() < size)
    throw std::invalid_argument("mr::sync attach: region too small for this primitive");
  std::uint32_t found;
  std::memcpy(&found, region.data(), sizeof found);
  if (found != magic)
    throw std::invalid_argument("mr::sync attach: region holds another kind of state");
  SharedBlock b;
  b.region_ = std::make_shared<SharedRegion>(std::move(region));
  return b;
}

}  // namespace mr::detail
