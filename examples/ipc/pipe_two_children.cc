// Two children talk over a duplex mr::Pipe: one asks, the other answers,
// each printing what it receives. The parent only starts and joins them.
#include <cstdio>
#include <string>

#include "mr/ipc/pipe.h"
#include "mr/process/process.h"

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines in the order they happen
  auto [left, right] = mr::Pipe();

  mr::Process asker([&left = left, &right = right] {
    right.close();  // the other child's end
    for (int i = 1; i <= 3; ++i) {
      left.send("how much is " + std::to_string(i) + " times 7?");
      std::printf("asker got:    %d\n", left.recv<int>());
    }
    left.send(std::string("bye"));
  });
  mr::Process answerer([&left = left, &right = right] {
    left.close();
    for (int i = 1;; ++i) {
      auto question = right.recv<std::string>();
      std::printf("answerer got: %s\n", question.c_str());
      if (question == "bye") break;
      right.send(i * 7);
    }
  });
  asker.start();
  answerer.start();
  // The parent uses neither end: closing both lets end-of-stream work.
  left.close();
  right.close();
  asker.join_checked();
  answerer.join_checked();
  return 0;
}
