#include "dns/split_routes.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace sluice::dns {

namespace {

template <typename Routes>
auto find_route(Routes& routes, std::string_view key) {
  return std::lower_bound(routes.begin(), routes.end(), key,
                          [](const auto& r, std::string_view k) { return std::string_view(r.suffix) < k; });
}

}  // namespace

SplitRoutes::SplitRoutes(UpstreamSet default_set) { sets_.push_back(std::move(default_set)); }

size_t SplitRoutes::add_set(UpstreamSet set) {
  sets_.push_back(std::move(set));
  return sets_.size() - 1;
}

bool SplitRoutes::add_route(const CanonicalName& suffix, size_t set_index) {
  if (suffix.is_root() || set_index >= sets_.size()) return false;
  auto it = find_route(routes_, suffix.key());
  if (it != routes_.end() && it->suffix == suffix.key()) return false;
  routes_.insert(it, Route{std::string(suffix.key()), set_index});
  return true;
}

size_t SplitRoutes::select(const CanonicalName& name) const {
  if (routes_.empty()) return kDefaultSet;
  size_t chosen = kDefaultSet;
  // any_suffix visits the whole name first, then ever shorter ancestors: the first hit is the
  // longest suffix.
  name.any_suffix([&](std::span<const uint8_t> tail) {
    std::string_view key(reinterpret_cast<const char*>(tail.data()), tail.size());
    auto it = find_route(routes_, key);
    if (it == routes_.end() || it->suffix != key) return false;
    chosen = it->set;
    return true;
  });
  return chosen;
}

}  // namespace sluice::dns
