// A pipeline of two children over one-way pipes: the first sends numbers,
// the second squares them, the parent prints the squares until end of
// stream (mr::EofError once the second child has finished and closed).
#include <cstdio>

#include "mr/ipc/pipe.h"
#include "mr/process/process.h"

int main() {
  auto [numbers_in, numbers_out] = mr::Pipe(/*duplex=*/false);  // (reader, writer)
  auto [squares_in, squares_out] = mr::Pipe(false);

  mr::Process source([&] {
    numbers_in.close();
    squares_in.close();
    squares_out.close();
    for (long i = 1; i <= 10; ++i) numbers_out.send(i);
  });  // exiting closes numbers_out: end of stream for the squarer
  mr::Process squarer([&] {
    numbers_out.close();
    squares_in.close();
    try {
      for (;;) {
        long n = numbers_in.recv<long>();
        squares_out.send(n * n);
      }
    } catch (const mr::EofError&) {
    }
  });
  source.start();
  squarer.start();
  // Every end the parent keeps open would keep a stream alive.
  numbers_in.close();
  numbers_out.close();
  squares_out.close();

  long total = 0;
  try {
    for (;;) {
      long sq = squares_in.recv<long>();
      std::printf("%ld\n", sq);
      total += sq;
    }
  } catch (const mr::EofError&) {
    std::printf("end of stream; total %ld\n", total);
  }
  source.join_checked();
  squarer.join_checked();
  return total == 385 ? 0 : 1;
}
