// The manager server: one single-threaded poll loop over the listener, the
// clients, the creator's pidfd and a signalfd for SIGTERM. Blocking calls
// (queue get, lock acquire) are parked as waiters and answered when an item
// or the lock becomes available, or when their deadline passes; the loop
// never blocks on one client.
#include "mr/ipc/manager.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <deque>
#include <map>

#include "mr/base/error.h"

namespace mr {
namespace detail {
namespace {

// How long shutdown() lets the server clean up before SIGKILL.
constexpr auto kServerStopGrace = std::chrono::seconds(5);

// A blocking request waiting in the server.
struct Waiter {
  std::uint64_t client;
  Deadline deadline;
  ManagerRequest request;
};

class Server {
 public:
  Server(Listener listener, std::string authkey, pid_t creator)
      : listener_(std::move(listener)), authkey_(std::move(authkey)) {
    creator_.reset(static_cast<int>(::syscall(SYS_pidfd_open, creator, 0u)));
    sigset_t term;
    ::sigemptyset(&term);
    ::sigaddset(&term, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &term, nullptr);
    sigterm_.reset(::signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK));
  }

  // Serves until SIGTERM or the creator's death; then drops every object
  // (segments are unlinked by their SharedMemory owners).
  int run() {
    // The creator may have died before the pidfd was opened.
    if (!creator_ || !sigterm_) return stop(1);
    for (;;) {
      for (auto it = clients_.begin(); it != clients_.end();) {
        const std::uint64_t id = (it++)->first;  // serve() may drop it
        serve_buffered(id);
      }
      std::vector<pollfd> fds{{listener_.fileno(), POLLIN, 0},
                              {creator_.get(), POLLIN, 0},
                              {sigterm_.get(), POLLIN, 0}};
      std::vector<std::uint64_t> ids;
      for (auto& [id, c] : clients_) {
        fds.push_back({c.conn.fileno(), POLLIN, 0});
        ids.push_back(id);
      }
      int r = ::poll(fds.data(), fds.size(), next_deadline().poll_timeout_ms());
      if (r < 0 && errno != EINTR) return stop(1);
      if (fds[1].revents || fds[2].revents) return stop(0);
      if (fds[0].revents) accept_one();
      for (std::size_t i = 0; i < ids.size(); ++i)
        if (fds[3 + i].revents) serve_buffered(ids[i]);
      expire_waiters();
    }
  }

 private:
  struct Client {
    SocketConnection conn;
    bool authenticated = false;
  };

  int stop(int code) {
    segments_.clear();  // unlinks: this process created them
    return code;
  }

  Deadline next_deadline() const {
    Deadline d = Deadline::never();
    for (const auto& w : waiters_)
      if (!w.deadline.is_never() && (d.is_never() || w.deadline.remaining() < d.remaining()))
        d = w.deadline;
    return d;
  }

  void accept_one() {
    std::optional<SocketConnection> c = listener_.accept_for(Timeout::zero());
    if (c) clients_[next_id_++].conn = std::move(*c);
  }

  // Handles every message the client has sent (some may sit in its read
  // buffer already).
  void serve_buffered(std::uint64_t id) {
    for (;;) {
      auto it = clients_.find(id);
      if (it == clients_.end()) return;
      Client& c = it->second;
      std::string bytes;
      try {
        if (!c.conn.poll()) return;
        bytes = c.conn.recv_bytes();
      } catch (const std::exception&) {
        drop(id);  // end of stream: the client closed or died
        return;
      }
      if (!c.authenticated) {
        if (bytes != authkey_) {
          drop(id);
          return;
        }
        c.authenticated = true;
        answer(id, flag(true));
        continue;
      }
      ManagerRequest q;
      try {
        q = from_bytes<ManagerRequest>(bytes);
      } catch (const std::exception&) {
        drop(id);
        return;
      }
      if (std::optional<ManagerReply> reply = handle(id, q)) answer(id, *reply);
    }
  }

  void answer(std::uint64_t id, const ManagerReply& reply) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    try {
      it->second.conn.send(reply);
    } catch (const std::exception&) {
      drop(id);
    }
  }

  // A client is gone: its waiters go, the locks it held are released.
  void drop(std::uint64_t id) {
    clients_.erase(id);
    std::erase_if(waiters_, [id](const Waiter& w) { return w.client == id; });
    for (auto& [name, owner] : locks_)
      if (owner == id) hand_over_lock(name);
  }

  // Replies: found or not, a value, a count, a list, a refusal.
  static ManagerReply flag(bool found) {
    ManagerReply r;
    r.found = found;
    return r;
  }
  static ManagerReply with(std::string value) {
    ManagerReply r = flag(true);
    r.value = std::move(value);
    return r;
  }
  static ManagerReply count(std::size_t n) { return with(to_bytes(static_cast<std::int64_t>(n))); }
  static ManagerReply listing(std::vector<std::string> values) {
    ManagerReply r = flag(true);
    r.values = std::move(values);
    return r;
  }
  static ManagerReply refused(std::string why) {
    ManagerReply r;
    r.error = std::move(why);
    return r;
  }

  // The answer to `q`, or nothing when it is parked.
  std::optional<ManagerReply> handle(std::uint64_t id, const ManagerRequest& q) {
    switch (q.op) {
      case kDictSet:
        dicts_[q.name][q.key] = q.value;
        return flag(true);
      case kDictGet: {
        auto& d = dicts_[q.name];
        auto it = d.find(q.key);
        if (it == d.end()) return flag(false);
        return with(it->second);
      }
      case kDictErase:
        return flag(dicts_[q.name].erase(q.key) > 0);
      case kDictPop: {
        auto& d = dicts_[q.name];
        auto it = d.find(q.key);
        if (it == d.end()) return flag(false);
        ManagerReply r = with(std::move(it->second));
        d.erase(it);
        return r;
      }
      case kDictSetdefault:
        return with(dicts_[q.name].try_emplace(q.key, q.value).first->second);
      case kDictSize:
        return count(dicts_[q.name].size());
      case kDictItems: {
        std::vector<std::string> kv;
        for (const auto& [k, v] : dicts_[q.name]) {
          kv.push_back(k);
          kv.push_back(v);
        }
        return listing(std::move(kv));
      }
      case kListAppend:
        lists_[q.name].push_back(q.value);
        return flag(true);
      case kListGet:
      case kListSet:
      case kListPop: {
        auto& l = lists_[q.name];
        const std::int64_t n = static_cast<std::int64_t>(l.size());
        const std::int64_t i = q.index < 0 ? q.index + n : q.index;
        if (i < 0 || i >= n) return flag(false);  // the proxy throws out_of_range
        const auto pos = l.begin() + i;
        if (q.op == kListGet) return with(*pos);
        if (q.op == kListSet) {
          *pos = q.value;
          return flag(true);
        }
        ManagerReply r = with(std::move(*pos));
        l.erase(pos);
        return r;
      }
      case kListSize:
        return count(lists_[q.name].size());
      case kListItems:
        return listing(lists_[q.name]);
      case kQueuePut:
        queues_[q.name].push_back(q.value);
        feed_queue_waiters(q.name);
        return flag(true);
      case kQueueGet: {
        auto& items = queues_[q.name];
        if (!items.empty()) {
          ManagerReply r = with(std::move(items.front()));
          items.pop_front();
          return r;
        }
        return park(id, q);
      }
      case kQueueSize:
        return count(queues_[q.name].size());
      case kLockAcquire: {
        std::uint64_t& owner = locks_[q.name];
        if (owner == 0) {
          owner = id;
          return flag(true);
        }
        if (owner == id && q.timeout_ns != 0)
          return refused("mr::LockProxy " + q.name +
                         ": acquired again by the client that holds it (it is not recursive)");
        return park(id, q);
      }
      case kLockRelease: {
        auto it = locks_.find(q.name);
        if (it == locks_.end() || it->second != id)
          return refused("mr::LockProxy " + q.name +
                         ": released by a client that does not hold it");
        hand_over_lock(q.name);
        return flag(true);
      }
      case kShmCreate: {
        if (q.index <= 0) return refused("mr::SharedMemoryManager: the size must be positive");
        try {
          SharedMemory seg = SharedMemory::create("", static_cast<std::size_t>(q.index));
          std::string name = seg.name();
          segments_.emplace(name, std::move(seg));
          return with(std::move(name));
        } catch (const std::exception& e) {
          return refused(std::string("mr::SharedMemoryManager: ") + e.what());
        }
      }
      case kShmRelease:
        return flag(segments_.erase(q.name) > 0);
      default:
        return refused("mr::Manager: unknown request " + std::to_string(q.op));
    }
  }

  // Parks a blocking request; a zero timeout answers "not now" at once.
  std::optional<ManagerReply> park(std::uint64_t id, const ManagerRequest& q) {
    if (q.timeout_ns == 0) return flag(false);
    waiters_.push_back(Waiter{
        id, q.timeout_ns < 0 ? Deadline::never() : Deadline::after(Timeout(q.timeout_ns)), q});
    return std::nullopt;
  }

  void feed_queue_waiters(const std::string& name) {
    auto& items = queues_[name];
    for (auto it = waiters_.begin(); it != waiters_.end() && !items.empty();) {
      if (it->request.op != kQueueGet || it->request.name != name) {
        ++it;
        continue;
      }
      const std::uint64_t client = it->client;
      it = waiters_.erase(it);
      ManagerReply r = with(std::move(items.front()));
      items.pop_front();
      answer(client, r);
    }
  }

  // Frees the lock `name` and gives it to its first waiter, if any.
  void hand_over_lock(const std::string& name) {
    std::uint64_t& owner = locks_[name];
    owner = 0;
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (it->request.op != kLockAcquire || it->request.name != name) continue;
      owner = it->client;
      waiters_.erase(it);
      answer(owner, flag(true));  // may drop it, releasing again
      return;
    }
  }

  void expire_waiters() {
    std::vector<std::uint64_t> late;
    std::erase_if(waiters_, [&](const Waiter& w) {
      if (w.deadline.is_never() || !w.deadline.expired()) return false;
      late.push_back(w.client);
      return true;
    });
    for (std::uint64_t id : late) answer(id, flag(false));
  }

  Listener listener_;
  std::string authkey_;
  UniqueFd creator_;
  UniqueFd sigterm_;
  std::uint64_t next_id_ = 1;  // 0 means "nobody" in locks_
  std::map<std::uint64_t, Client> clients_;
  std::map<std::string, std::map<std::string, std::string>> dicts_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, std::deque<std::string>> queues_;
  std::map<std::string, std::uint64_t> locks_;  // name -> owning client
  std::map<std::string, SharedMemory> segments_;
  std::vector<Waiter> waiters_;  // in arrival order
};

}  // namespace

ManagerChannel::ManagerChannel(std::string_view address, std::string_view authkey)
    : conn_(connect_to(address)) {
  conn_.send_bytes(authkey);
  try {
    if (!conn_.recv<ManagerReply>().found) throw EofError("refused");
  } catch (const EofError&) {
    throw ManagerError("mr::ManagerClient: the manager at " + std::string(address) +
                       " refused the authkey");
  }
}

ManagerReply ManagerChannel::call(const ManagerRequest& request) {
  std::lock_guard lock(mu_);
  conn_.send(request);
  ManagerReply reply = conn_.recv<ManagerReply>();
  if (!reply.error.empty()) throw ManagerError(reply.error);
  return reply;
}

ManagerReply ProxyBase::call(std::uint8_t op, std::string key, std::string value,
                             std::int64_t index, std::int64_t timeout_ns) const {
  ManagerRequest q;
  q.op = op;
  q.name = name_;
  q.key = std::move(key);
  q.value = std::move(value);
  q.index = index;
  q.timeout_ns = timeout_ns;
  return ch_->call(q);
}

}  // namespace detail

ManagerClient::ManagerClient(std::string_view address, std::string_view authkey)
    : ch_(std::make_shared<detail::ManagerChannel>(address, authkey)) {}

SharedMemory ManagerClient::segment(std::size_t size) const {
  if (size == 0) throw std::invalid_argument("mr::ManagerClient::segment: size must be positive");
  detail::ManagerRequest q;
  q.op = detail::kShmCreate;
  q.index = static_cast<std::int64_t>(size);
  return SharedMemory::open(ch_->call(q).value);
}

void ManagerClient::release(const SharedMemory& segment) const {
  detail::ManagerRequest q;
  q.op = detail::kShmRelease;
  q.name = segment.name();
  ch_->call(q);
}

// What the constructor prepares before the client side connects.
struct Manager::Started {
  std::string address;
  std::string authkey;
  std::unique_ptr<Process> server;
};

Manager::Started Manager::start_server(ManagerOptions options) {
  // Listening before the fork: a client that connects at once finds it.
  Listener listener(std::move(options.address));
  std::string authkey = options.authkey.empty() ? random_token() : std::move(options.authkey);
  std::string address = listener.address();
  const pid_t creator = ::getpid();
  // Not die_with_parent: the server outlives its creator just long enough
  // to drop (unlink) what it owns, watching the creator's pidfd. Daemon: an
  // exiting creator terminates it (SIGTERM, handled) instead of joining it.
  auto server = std::make_unique<Process>(
      ProcessOptions{.name = "Manager",
                     .daemon = true,
                     .start_method = StartMethod::kFork,
                     .die_with_parent = false},
      [&listener, &authkey, creator] {
        return detail::Server(std::move(listener), authkey, creator).run();
      });
  server->start();
  return Started{std::move(address), std::move(authkey), std::move(server)};
}

Manager::Manager(ManagerOptions options) : Manager(start_server(std::move(options))) {}

Manager::Manager(Started started)
    : ManagerClient(started.address, started.authkey),
      address_(std::move(started.address)),
      authkey_(std::move(started.authkey)),
      server_(std::move(started.server)) {}

Manager::~Manager() { shutdown(); }

void Manager::shutdown() noexcept {
  if (!server_) return;
  try {
    server_->terminate();
    if (!server_->join_for(detail::kServerStopGrace)) {
      server_->kill();
      server_->join();
    }
  } catch (...) {
  }
  server_.reset();
}

SharedMemoryManager::SharedMemoryManager(ManagerOptions options) : Manager(std::move(options)) {
  // Segments of managers (and other creators) that died without removing
  // them: the promise Python's resource_tracker cannot keep.
  SharedMemory::cleanup_stale();
}

}  // namespace mr
