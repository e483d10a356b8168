// Split DNS: which upstream servers a forwarded query goes to. Each route maps a domain suffix
// (the name and everything below it) to a set of upstream servers; the longest matching suffix
// wins, so "corp.example" can go to the office resolver while "public.corp.example" goes
// elsewhere; names no route matches use the default set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/domain_set.h"
#include "tunnel/ip_address.h"

namespace sluice::dns {

struct Upstream {
  Endpoint endpoint;
  // Normally a server is reached through the tunnel (its packets are sealed to a peer like
  // any other traffic). A direct server is reached from the host's own network, outside the
  // tunnel: a LAN resolver, or one the tunnel's AllowedIPs do not cover.
  bool direct = false;
  auto operator<=>(const Upstream&) const = default;
};

struct UpstreamSet {
  static constexpr uint32_t kDefaultTimeoutMs = 2000;
  static constexpr uint32_t kDefaultRetries = 2;

  std::vector<Upstream> servers;        // tried in order; never empty in a built policy
  uint32_t timeout_ms = kDefaultTimeoutMs;  // per attempt
  uint32_t retries = kDefaultRetries;       // further attempts after the first, each to the next server
  bool operator==(const UpstreamSet&) const = default;
};

class SplitRoutes {
 public:
  static constexpr size_t kDefaultSet = 0;

  explicit SplitRoutes(UpstreamSet default_set = {});

  // Returns the new set's index, for add_route().
  size_t add_set(UpstreamSet set);
  // Routes `suffix` and the names below it to set `set_index`. False, and nothing changes, if
  // the suffix already has a route, the index is out of range, or the suffix is the root (the
  // default set is the root's route).
  bool add_route(const CanonicalName& suffix, size_t set_index);

  // The index of the set for `name`: its longest routed suffix, else kDefaultSet. Allocates
  // nothing; costs one binary search per label of `name`.
  size_t select(const CanonicalName& name) const;
  // Valid while this object lives and is not modified.
  const UpstreamSet& set(size_t index) const { return sets_[index]; }
  size_t set_count() const { return sets_.size(); }
  size_t route_count() const { return routes_.size(); }

 private:
  struct Route {
    std::string suffix;  // CanonicalName::key()
    size_t set = 0;
  };
  std::vector<UpstreamSet> sets_;
  std::vector<Route> routes_;  // sorted by suffix
};

}  // namespace sluice::dns
