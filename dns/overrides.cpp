#include "dns/overrides.h"

#include <algorithm>
#include <string_view>

namespace sluice::dns {

namespace {

constexpr uint16_t kTypeA = 1;      // RFC 1035
constexpr uint16_t kTypeAaaa = 28;  // RFC 3596

}  // namespace

bool Overrides::add(const CanonicalName& name, std::span<const IpAddress> addresses) {
  if (addresses.empty()) return false;
  auto key = name.key();
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const Entry& e, std::string_view k) { return std::string_view(e.name) < k; });
  if (it != entries_.end() && it->name == key) return false;
  Entry entry;
  entry.name = std::string(key);
  for (const IpAddress& a : addresses) {
    auto& list = a.family == IpFamily::v4 ? entry.v4 : entry.v6;
    if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
  }
  entries_.insert(it, std::move(entry));
  return true;
}

OverrideAnswer Overrides::answer(const CanonicalName& name, uint16_t qtype) const {
  auto key = name.key();
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const Entry& e, std::string_view k) { return std::string_view(e.name) < k; });
  if (it == entries_.end() || it->name != key) return {};
  const std::vector<IpAddress>* list = qtype == kTypeA ? &it->v4 : qtype == kTypeAaaa ? &it->v6 : nullptr;
  if (list == nullptr || list->empty()) return {OverrideAnswer::Kind::nodata, {}, ttl_};
  return {OverrideAnswer::Kind::addresses, *list, ttl_};
}

}  // namespace sluice::dns
