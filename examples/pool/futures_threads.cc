// Futures with a ThreadPool: submit, then(), add_done_callback(),
// as_completed() and wait(), as in Python's concurrent.futures.
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mr/pool/thread_pool.h"

using namespace std::chrono_literals;

int main() {
  mr::ThreadPool pool({.workers = 4});

  // Tasks that take 40, 10, 30 and 20 ms: as_completed yields the fast ones first.
  std::vector<mr::Future<int>> futures;
  for (int ms : {40, 10, 30, 20})
    futures.push_back(pool.submit([ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return ms;
    }));
  std::printf("as_completed:");
  for (const mr::Future<int>& f : mr::as_completed(futures, 5s)) std::printf(" %d ms", f.get());
  std::printf("\n");

  // then() chains a continuation; add_done_callback() observes completion.
  mr::Future<std::string> text =
      pool.submit([] { return 6 * 7; }).then([](int v) { return "answer " + std::to_string(v); });
  text.add_done_callback([](const mr::Future<std::string>& f) {
    std::printf("callback saw: %s\n", f.get().c_str());
  });
  text.wait();

  // A thread pool's task exception comes back as itself (a ProcessPool's
  // as mr::TaskError with its type and message, unless registered).
  mr::Future<int> bad = pool.submit([]() -> int { throw std::out_of_range("index 9"); });
  auto [done, not_done] = mr::wait(std::vector<mr::Future<int>>{bad}, mr::ReturnWhen::kFirstException, 5s);
  std::printf("wait(FIRST_EXCEPTION): %zu done, %zu not done\n", done.size(), not_done.size());
  try {
    bad.get();
  } catch (const std::out_of_range& e) {
    std::printf("std::out_of_range: %s\n", e.what());
  }
  return 0;
}
