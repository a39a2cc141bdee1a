#include "speculation.h"

#include <algorithm>
#include <stdexcept>

namespace mr::detail {

const MapRaces::Race* MapRaces::find(pid_t attempt) const {
  for (const Race& r : races_)
    for (const Attempt& a : r.attempts)
      if (a.pid == attempt) return &r;
  return nullptr;
}

const std::vector<std::uint32_t>& MapRaces::copy(pid_t original, std::vector<std::uint32_t> owed,
                                                 pid_t copy) {
  if (racing(copy)) throw std::logic_error("mapreduce engine: a copy that races already");
  Race* race = find(original);
  if (!race) {
    if (owed.empty()) throw std::logic_error("mapreduce engine: a copy of nothing");
    std::sort(owed.begin(), owed.end());
    owed.erase(std::unique(owed.begin(), owed.end()), owed.end());
    race = &races_.emplace_back(Race{std::move(owed), {Attempt{original, {}}}});
  }
  race->attempts.push_back(Attempt{copy, {}});
  return race->group;
}

std::vector<pid_t> MapRaces::rivals(pid_t attempt) const {
  std::vector<pid_t> out;
  if (const Race* r = find(attempt))
    for (const Attempt& a : r->attempts)
      if (a.pid != attempt) out.push_back(a.pid);
  return out;
}

MapRaces::Outcome MapRaces::flushed(pid_t attempt, std::span<const std::uint32_t> chunks) {
  Race* race = find(attempt);
  if (!race) return {};
  auto me = std::find_if(race->attempts.begin(), race->attempts.end(),
                         [&](const Attempt& a) { return a.pid == attempt; });
  for (std::uint32_t c : chunks)
    if (std::binary_search(race->group.begin(), race->group.end(), c))
      me->flushed.insert(std::lower_bound(me->flushed.begin(), me->flushed.end(), c), c);
  me->flushed.erase(std::unique(me->flushed.begin(), me->flushed.end()), me->flushed.end());
  Outcome out{true, false, {}};
  if (me->flushed.size() < race->group.size()) return out;
  out.won = true;
  out.losers = rivals(attempt);
  races_.erase(races_.begin() + (race - races_.data()));
  return out;
}

void MapRaces::ended(pid_t attempt) {
  Race* race = find(attempt);
  if (!race) return;
  std::erase_if(race->attempts, [&](const Attempt& a) { return a.pid == attempt; });
  if (race->attempts.empty()) races_.erase(races_.begin() + (race - races_.data()));
}

}  // namespace mr::detail
