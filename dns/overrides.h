// Local answers: exact names that the interceptor answers itself with fixed A and AAAA
// addresses (a printer on the LAN, a split-horizon host), as an /etc/hosts inside the tunnel.
// An overridden name is owned locally: a query for another type, or for the family the
// override has no address for, gets an empty answer (NODATA), not a forwarded one, so the
// local and the upstream view of a name are never mixed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dns/domain_set.h"
#include "tunnel/ip_address.h"

namespace sluice::dns {

struct OverrideAnswer {
  enum class Kind : uint8_t {
    none,       // not an overridden name
    addresses,  // answer with these addresses (all of the query's family)
    nodata,     // overridden name, but nothing of this type: NOERROR with an empty answer
  };
  Kind kind = Kind::none;
  // Points into the Overrides object; valid while it lives and is not modified.
  std::span<const IpAddress> addresses;
  uint32_t ttl = 0;
};

class Overrides {
 public:
  static constexpr uint32_t kDefaultTtl = 300;

  // Adds `name` with its addresses (any mix of IPv4 and IPv6; duplicates are kept once).
  // False, and nothing changes, if the name is already overridden or `addresses` is empty.
  bool add(const CanonicalName& name, std::span<const IpAddress> addresses);
  void set_ttl(uint32_t seconds) { ttl_ = seconds; }
  uint32_t ttl() const { return ttl_; }
  size_t size() const { return entries_.size(); }

  // `qtype` is the query's type: 1 (A) and 28 (AAAA) get addresses, any other type NODATA.
  // Allocates nothing.
  OverrideAnswer answer(const CanonicalName& name, uint16_t qtype) const;

 private:
  struct Entry {
    std::string name;  // CanonicalName::key()
    std::vector<IpAddress> v4;
    std::vector<IpAddress> v6;
  };
  // Sorted by name, so lookups are a binary search over string_views.
  std::vector<Entry> entries_;
  uint32_t ttl_ = kDefaultTtl;
};

}  // namespace sluice::dns
