// The serialization decoder on hostile bytes: from_bytes<T> either returns
// a value or throws mr::SerializationError; it never crashes, reads past
// the input (AddressSanitizer watches a copy of exactly `size` bytes) or
// allocates beyond what the input can hold. A value it returns survives an
// encode/decode round trip. The first byte picks the type: standard containers
// and the master/worker protocol messages of the engine.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "mr/base/serialize.h"
#include "protocol.h"

namespace {

template <class T>
void decode(std::string_view bytes) {
  T value;
  try {
    value = mr::from_bytes<T>(bytes);
  } catch (const mr::SerializationError&) {
    return;  // refused: fine
  }
  // What it decoded survives a round trip. (Not necessarily as the same
  // bytes: a map given the same key twice keeps one.)
  const std::string encoded = mr::to_bytes(value);
  if (mr::to_bytes(mr::from_bytes<T>(encoded)) != encoded) {
    std::fprintf(stderr, "a decoded value does not survive encode and decode\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // An exact-size heap copy, so that any over-read is caught.
  std::unique_ptr<char[]> copy(new char[size - 1]);
  std::memcpy(copy.get(), data + 1, size - 1);
  const std::string_view bytes(copy.get(), size - 1);
  switch (data[0] % 8) {
    case 0:
      decode<std::string>(bytes);
      break;
    case 1:
      decode<std::vector<std::uint32_t>>(bytes);
      break;
    case 2:
      decode<std::map<std::string, std::int64_t>>(bytes);
      break;
    case 3:
      decode<std::vector<std::string>>(bytes);
      break;
    case 4:
      decode<std::variant<std::uint8_t, std::string, std::vector<double>>>(bytes);
      break;
    case 5:
      decode<mr::detail::WorkerMessage>(bytes);
      break;
    case 6:
      decode<mr::detail::MasterMessage>(bytes);
      break;
    default:
      decode<std::pair<bool, std::optional<std::string>>>(bytes);
      break;
  }
  return 0;
}
