// A producer process puts work items on a bounded mr::Queue and a consumer
// process takes them; the producer closes the queue when done, and the
// consumer stops once it has taken everything (get() throws QueueClosed).
#include <cstdio>
#include <string>

#include "mr/ipc/queue.h"
#include "mr/process/process.h"

struct Item {
  int id = 0;
  std::string text;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(id, text);
  }
};

int main() {
  mr::Queue<Item> queue(/*maxsize=*/4);  // the producer waits when 4 are queued

  mr::Process producer([&queue] {
    for (int i = 1; i <= 8; ++i) queue.put(Item{i, "item number " + std::to_string(i)});
    queue.close();
  });
  mr::Process consumer([&queue] {
    int taken = 0;
    try {
      for (;;) {
        Item it = queue.get();
        std::printf("consumer took %d: %s\n", it.id, it.text.c_str());
        ++taken;
      }
    } catch (const mr::QueueClosed&) {
      std::printf("queue closed and empty after %d items\n", taken);
    }
    return taken == 8 ? 0 : 1;
  });
  producer.start();
  consumer.start();
  producer.join_checked();
  consumer.join_checked();
  return 0;
}
