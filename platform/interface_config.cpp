#include "platform/interface_config.h"

#include <spdlog/spdlog.h>

#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "platform/resolver.h"

namespace sluice::platform {

bool valid_wg_quick_interface_name(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '=' || c == '+' || c == '.' || c == '-';
  });
}

std::optional<std::string> interface_name_from_config_path(std::string_view path) {
  const size_t slash = path.rfind('/');
  std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  constexpr std::string_view kSuffix = ".conf";
  if (file.size() <= kSuffix.size() || file.substr(file.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  std::string_view name = file.substr(0, file.size() - kSuffix.size());
  if (!valid_wg_quick_interface_name(name)) return std::nullopt;
  return std::string(name);
}

std::variant<UpPlan, std::string> prepare_up(const std::string& path) {
  UpPlan plan;
  auto name = interface_name_from_config_path(path);
  if (!name) {
    return "`" + path + "' is not a valid config file name: it must be INTERFACE.conf, where "
           "INTERFACE is 1 to 15 of the characters a-z A-Z 0-9 _ = + . -";
  }
  plan.interface_name = *name;
  if (::if_nametoindex(name->c_str()) != 0) return "`" + *name + "' already exists";  // as wg-quick

  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open `" + path + "': " + std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return "cannot read `" + path + "': " + std::strerror(errno);
  const std::string contents = text.str();
  if (contents.size() > kMaxWgQuickConfigBytes) {
    return path + ": file larger than " + std::to_string(kMaxWgQuickConfigBytes) + " bytes";
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0007) != 0) {
    spdlog::warn("`{}' is world accessible", path);  // as wg-quick warns: it holds a private key
  }

  auto parsed = parse_wg_quick_config(contents, path);
  if (auto* error = std::get_if<ConfigError>(&parsed)) return error->to_string();
  plan.config = std::move(std::get<WgQuickConfig>(parsed));
  if (auto problem = check_interface_config(plan.config)) return path + ": " + *problem;

  plan.change = to_device_change(plan.config);
  // wg setconf only sends what the file sets; a listen_port=0 would needlessly rebind.
  if (!plan.config.listen_port) plan.change.listen_port.reset();
  if (!plan.config.fwmark) plan.change.fwmark.reset();
  for (size_t i = 0; i < plan.config.peers.size() && i < plan.change.peers.size(); ++i) {
    const ConfigPeer& peer = plan.config.peers[i];
    if (!peer.endpoint_host) continue;
    auto resolved = resolve_endpoint(*peer.endpoint_host, peer.endpoint_port);
    // A temporary DNS failure is retried for a few seconds, as wg(8) does.
    for (int attempt = 1; !resolved && resolved.error().code == EAGAIN && attempt < 5; ++attempt) {
      spdlog::info("resolving {} failed temporarily; retrying", *peer.endpoint_host);
      ::sleep(1);
      resolved = resolve_endpoint(*peer.endpoint_host, peer.endpoint_port);
    }
    if (!resolved) {
      return path + ":" + std::to_string(peer.line) + ": Endpoint: cannot resolve `" +
             *peer.endpoint_host + "': " + resolved.error().message;
    }
    plan.change.peers[i].endpoint = *resolved;
  }
  return plan;
}

std::optional<std::string> check_interface_config(const WgQuickConfig& config) {
  for (const ConfigPeer& peer : config.peers) {
    for (const IpPrefix& p : peer.change.allowed_ips) {
      if (p.length != 0) continue;
      return "AllowedIPs " + p.to_string() + " (peer on line " + std::to_string(peer.line) +
             ") is a default route: routing everything through the tunnel needs wg-quick's "
             "policy routing (a separate table and fwmark rules, so the tunnel's own UDP "
             "packets do not loop back into it), which `sluice up` does not do yet. Use "
             "`WG_QUICK_USERSPACE_IMPLEMENTATION=sluice wg-quick up` for this config, or list "
             "narrower prefixes in AllowedIPs.";
    }
  }
  return std::nullopt;
}

std::vector<IpPrefix> routes_for(const WgQuickConfig& config) {
  std::vector<IpPrefix> routes;
  for (const ConfigPeer& peer : config.peers) {
    for (const IpPrefix& p : peer.change.allowed_ips) {
      IpPrefix m = p.masked();
      if (std::find(routes.begin(), routes.end(), m) == routes.end()) routes.push_back(m);
    }
  }
  // Longest prefix first, as wg-quick's `sort -nr -k 2 -t /`; stable so file order breaks ties.
  std::stable_sort(routes.begin(), routes.end(),
                   [](const IpPrefix& a, const IpPrefix& b) { return a.length > b.length; });
  return routes;
}

Result<std::unique_ptr<InterfaceConfiguration>> InterfaceConfiguration::apply(
    const WgQuickConfig& config, const std::string& interface_name, int ifindex) {
  if (auto problem = check_interface_config(config)) return Error{*problem, EINVAL};
  auto netlink = Netlink::open();
  if (!netlink) return netlink.error();
  std::unique_ptr<InterfaceConfiguration> self(
      new InterfaceConfiguration(std::move(*netlink), interface_name, ifindex));
  auto done = self->apply_steps(config);
  if (!done) {
    self->teardown();
    return done.error();
  }
  return self;
}

Result<bool> InterfaceConfiguration::apply_steps(const WgQuickConfig& config) {
  // 1. MTU (wg-quick: set_mtu_up, after the addresses; the order does not matter to the kernel
  // as long as it is set before the link comes up, which keeps IPv6 from starting at 1500).
  mtu_ = config.mtu.value_or(kDefaultInterfaceMtu);
  if (auto r = netlink_->set_mtu(ifindex_, mtu_); !r) return r.error();
  spdlog::debug("MTU set to {}", mtu_);

  // 2. Addresses, with their host bits, as `ip address add 10.0.0.2/24 dev IF`.
  for (const sluice::InterfaceAddress& a : config.addresses) {
    auto r = netlink_->add_address(ifindex_, a.address, a.prefix_length);
    if (!r) {
      if (r.error().code == EEXIST) {
        spdlog::debug("address {} already present", a.to_string());
        continue;  // not ours: leave it on teardown
      }
      return Error{"adding address " + a.to_string() + ": " + r.error().message, r.error().code};
    }
    added_addresses_.push_back(platform::InterfaceAddress{a.address, a.prefix_length});
    spdlog::info("address {} added", a.to_string());
  }

  // 3. Link up.
  if (auto r = netlink_->set_link_up(ifindex_, true); !r) return r.error();
  set_up_ = true;

  // 4. DNS: wg-quick hands these to resolvconf; there is no resolver manager here.
  if (!config.dns_servers.empty() || !config.dns_search.empty()) {
    std::string list;
    for (const IpAddress& a : config.dns_servers) list += (list.empty() ? "" : ", ") + a.to_string();
    for (const std::string& s : config.dns_search) list += (list.empty() ? "" : ", ") + s;
    spdlog::info("DNS = {} not applied: resolver configuration is left to the system", list);
  }

  // 5. Routes: like wg-quick, skip a prefix already covered by a route through this interface
  // (the connected route of an Address, or a shorter AllowedIP added before it).
  std::vector<IpPrefix> existing;
  if (auto listed = netlink_->list_routes(ifindex_)) {
    existing = std::move(*listed);
  } else {
    spdlog::debug("listing routes failed ({}); adding every AllowedIP", listed.error().message);
  }
  for (const IpPrefix& p : routes_for(config)) {
    bool covered = std::any_of(existing.begin(), existing.end(), [&](const IpPrefix& e) {
      return e.address.family == p.address.family && e.length <= p.length &&
             e.contains(p.address);
    });
    if (covered) {
      spdlog::debug("route {} already covered by a route through the interface", p.to_string());
      continue;
    }
    auto r = netlink_->add_route(ifindex_, p);
    if (!r) {
      if (r.error().code == EEXIST) {
        spdlog::debug("route {} already present", p.to_string());
        continue;
      }
      return Error{"adding route " + p.to_string() + ": " + r.error().message, r.error().code};
    }
    added_routes_.push_back(p);
    existing.push_back(p);
    spdlog::info("route {} added", p.to_string());
  }
  return true;
}

void InterfaceConfiguration::teardown() {
  auto log_failure = [](const std::string& what, const Error& e) {
    if (e.code == ENODEV || e.code == ESRCH || e.code == EADDRNOTAVAIL) {
      spdlog::debug("{}: {} (already gone)", what, e.message);
    } else {
      spdlog::warn("{}: {}", what, e.message);
    }
  };
  for (auto it = added_routes_.rbegin(); it != added_routes_.rend(); ++it) {
    if (auto r = netlink_->delete_route(ifindex_, *it); !r) {
      log_failure("removing route " + it->to_string(), r.error());
    } else {
      spdlog::debug("route {} removed", it->to_string());
    }
  }
  added_routes_.clear();
  for (auto it = added_addresses_.rbegin(); it != added_addresses_.rend(); ++it) {
    const std::string text = it->address.to_string() + "/" + std::to_string(it->prefix_length);
    if (auto r = netlink_->delete_address(ifindex_, it->address, it->prefix_length); !r) {
      log_failure("removing address " + text, r.error());
    } else {
      spdlog::debug("address {} removed", text);
    }
  }
  added_addresses_.clear();
  if (set_up_) {
    if (auto r = netlink_->set_link_up(ifindex_, false); !r) {
      log_failure("setting the link down", r.error());
    }
    set_up_ = false;
  }
}

InterfaceConfiguration::~InterfaceConfiguration() { teardown(); }

}  // namespace sluice::platform
