#include "mr/pool/pool_base.h"

#include <stdexcept>

namespace mr::detail {

std::size_t chunk_size_for(std::optional<std::size_t> chunksize, std::optional<std::size_t> inputs,
                           std::size_t workers) {
  if (chunksize) {
    if (*chunksize == 0)
      throw std::invalid_argument(
          "mr::Pool: chunksize must be at least 1 (leave it empty to "
          "let the pool choose)");
    return *chunksize;
  }
  if (!inputs || *inputs == 0) return 1;
  // Python's Pool._map_async: divmod(len, workers * 4), rounded up, so each
  // worker gets about four chunks.
  const std::size_t parts = 4 * (workers == 0 ? 1 : workers);
  return (*inputs + parts - 1) / parts;
}

}  // namespace mr::detail
