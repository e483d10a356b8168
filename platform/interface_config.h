// The part of `wg-quick up` that is not WireGuard: the interface's MTU, addresses, link state
// and a route for each peer's AllowedIPs, applied over rtnetlink for `sluice up`. Everything
// it creates is recorded and removed in reverse order on teardown (the TUN itself disappears
// when its descriptor is closed, taking any leftovers with it).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "platform/netlink.h"
#include "platform/result.h"
#include "tunnel/ip_address.h"
#include "tunnel/wg_quick_config.h"

namespace sluice::platform {

// The MTU when the config has no MTU= line. wg-quick computes one instead: the MTU of the
// route towards each peer endpoint (or of the default route) minus 80 (the worst-case
// IPv6 + UDP + WireGuard overhead), falling back to 1500 - 80 = 1420. We use that fallback.
inline constexpr uint32_t kDefaultInterfaceMtu = 1420;

// wg-quick's rule for interface names taken from a config file name: 1..15 of
// [a-zA-Z0-9_=+.-].
bool valid_wg_quick_interface_name(std::string_view name);

// "/etc/wireguard/wg0.conf" -> "wg0", as wg-quick derives it; nullopt if the file name is not
// a valid interface name followed by ".conf".
std::optional<std::string> interface_name_from_config_path(std::string_view path);

// Everything `sluice up` needs before it creates anything.
struct UpPlan {
  std::string interface_name;
  WgQuickConfig config;
  DeviceChange change;  // endpoints resolved; listen_port/fwmark only when the file sets them
};

// Reads, parses and checks the config file at `path` and resolves peer endpoint host names
// (blocking on DNS). Nothing is created. On failure returns the message to print: for a parse
// error exactly ConfigError::to_string() ("FILE:LINE: KEY: message").
std::variant<UpPlan, std::string> prepare_up(const std::string& path);

// Checks, before anything is created, what `sluice up` cannot do with this config. Today that
// is a default route (0.0.0.0/0 or ::/0) in some peer's AllowedIPs: wg-quick routes those
// through a separate table selected by fwmark rules so the tunnel's own UDP traffic does not
// loop back into the tunnel, and sluice up does not do that policy routing yet.
// Returns the message to show, or nullopt when the config can be applied.
std::optional<std::string> check_interface_config(const WgQuickConfig& config);

// The prefixes to route into the interface: every peer's AllowedIPs, without duplicates,
// longest prefix first (as wg-quick orders them).
std::vector<IpPrefix> routes_for(const WgQuickConfig& config);

class InterfaceConfiguration {
 public:
  // Sets the MTU, adds the addresses, brings the link up and adds the routes, in wg-quick's
  // order. On failure, undoes what it had done and returns the error. DNS= entries are only
  // logged: resolver configuration is left to the system.
  static Result<std::unique_ptr<InterfaceConfiguration>> apply(const WgQuickConfig& config,
                                                               const std::string& interface_name,
                                                               int ifindex);
  ~InterfaceConfiguration();  // calls teardown()
  InterfaceConfiguration(const InterfaceConfiguration&) = delete;
  InterfaceConfiguration& operator=(const InterfaceConfiguration&) = delete;

  // Removes what apply() created, newest first. Errors are logged, not returned: once the
  // interface is gone (ENODEV) the kernel has already removed everything. Idempotent.
  void teardown();

  uint32_t mtu() const { return mtu_; }

 private:
  InterfaceConfiguration(std::unique_ptr<Netlink> netlink, std::string name, int ifindex)
      : netlink_(std::move(netlink)), name_(std::move(name)), ifindex_(ifindex) {}
  Result<bool> apply_steps(const WgQuickConfig& config);

  std::unique_ptr<Netlink> netlink_;
  std::string name_;
  int ifindex_;
  uint32_t mtu_ = 0;
  bool set_up_ = false;
  std::vector<InterfaceAddress> added_addresses_;  // platform::InterfaceAddress
  std::vector<IpPrefix> added_routes_;
};

}  // namespace sluice::platform
