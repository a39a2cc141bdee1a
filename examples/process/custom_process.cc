// A custom process class, the C++ way of subclassing Python's Process and
// overriding run(): a small base class owns an mr::Process whose body calls
// the virtual run() in the (forked) child.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mr/process/process.h"

class Task {
 public:
  explicit Task(std::string name) : name_(std::move(name)) {}
  virtual ~Task() = default;

  void start() {
    process_.emplace(mr::ProcessOptions{.name = name_}, [this] { return run(); });
    process_->start();
  }
  int join() {
    process_->join();
    return *process_->exit_code();
  }
  pid_t pid() const { return process_->pid(); }

 protected:
  // Runs in the child; its result is the child's exit code.
  virtual int run() = 0;

 private:
  std::string name_;
  std::optional<mr::Process> process_;
};

class Greeter : public Task {
 public:
  Greeter(std::string name, std::string whom) : Task(std::move(name)), whom_(std::move(whom)) {}

 protected:
  int run() override {
    auto self = mr::current_process();
    std::printf("  [%s pid %d] hello, %s\n", self.name().c_str(), self.pid(), whom_.c_str());
    return 0;
  }

 private:
  std::string whom_;
};

class SumTo : public Task {
 public:
  SumTo(std::string name, int n) : Task(std::move(name)), n_(n) {}

 protected:
  int run() override {
    int sum = 0;
    for (int i = 1; i <= n_; ++i) sum += i;
    std::printf("  [%s pid %d] 1 + ... + %d = %d, returned as exit code %d\n",
                mr::current_process().name().c_str(), ::getpid(), n_, sum, sum % 256);
    return sum % 256;
  }

 private:
  int n_;
};

int main() {
  std::vector<std::unique_ptr<Task>> tasks;
  tasks.push_back(std::make_unique<Greeter>("greeter", "world"));
  tasks.push_back(std::make_unique<SumTo>("summer", 10));
  std::printf("parent pid %d starts %zu tasks, each a subclass with its own run()\n", ::getpid(),
              tasks.size());
  for (auto& t : tasks) t->start();
  for (auto& t : tasks) {
    pid_t pid = t->pid();
    int code = t->join();
    std::printf("task pid %d: %s\n", pid, mr::describe_exit_code(code).c_str());
  }
  return 0;
}
