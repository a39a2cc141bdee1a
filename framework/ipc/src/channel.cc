#include "mr/ipc/channel.h"

#include <stdexcept>

namespace mr {
namespace {

[[noreturn]] void closed_channel(const char* op) {
  throw std::logic_error(std::string("mr::Channel::") + op + " on a closed channel");
}

}  // namespace

void Channel::send_bytes(std::string_view message) {
  if (auto* c = connection()) return c->send_bytes(message);
  if (auto* s = socket()) return s->send_bytes(message);
  closed_channel("send");
}

std::string Channel::recv_bytes() {
  if (auto* c = connection()) return c->recv_bytes();
  if (auto* s = socket()) return s->recv_bytes();
  closed_channel("recv");
}

void Channel::send_deferred(std::string_view message) {
  if (auto* s = socket()) return s->send_deferred(message);
  send_bytes(message);
}

void Channel::flush() {
  if (auto* s = socket()) s->flush();
}

bool Channel::poll(Timeout timeout) {
  if (auto* c = connection()) return c->poll(timeout);
  if (auto* s = socket()) return s->poll(timeout);
  closed_channel("poll");
}

int Channel::fileno() const noexcept {
  if (const auto* c = std::get_if<Connection>(&end_)) return c->in_bell_.get();
  if (const auto* s = std::get_if<SocketConnection>(&end_)) return s->fileno();
  return -1;
}

void Channel::close() noexcept { end_ = std::monostate{}; }

bool Channel::closed() const noexcept {
  if (const auto* c = std::get_if<Connection>(&end_)) return c->closed();
  if (const auto* s = std::get_if<SocketConnection>(&end_)) return s->closed();
  return true;
}

}  // namespace mr
