// The pipe's message framing: any sequence of messages (sizes from a few
// bytes to several times the 4 KiB ring, so frames wrap around and are
// split) sent through a Pipe arrives whole and in order. A sender thread
// plays the other process; every wait has a timeout.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "mr/ipc/pipe.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Each message: a size byte (scaled so some exceed the ring), then that
  // many bytes taken cyclically from the input.
  std::vector<std::string> messages;
  for (std::size_t i = 0; i < size && messages.size() < 64; ++i) {
    const std::size_t n = data[i] < 200 ? data[i] : (data[i] - 199) * 2000;
    std::string m(n, '\0');
    for (std::size_t k = 0; k < n; ++k) m[k] = static_cast<char>(data[(i + k) % size] ^ k);
    messages.push_back(std::move(m));
  }
  auto [receiver, sender] = mr::Pipe(false, 4096);
  std::thread t([&, &out = sender] {
    for (const auto& m : messages) out.send_bytes(m);
    out.close();
  });
  for (const auto& want : messages) {
    std::optional<std::string> got = receiver.recv_bytes_for(std::chrono::seconds(10));
    if (!got || *got != want) {
      std::fprintf(stderr, "message of %zu bytes %s\n", want.size(),
                   got ? "arrived changed" : "did not arrive");
      std::abort();
    }
  }
  t.join();
  return 0;
}
