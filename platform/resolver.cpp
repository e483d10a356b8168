#include "platform/resolver.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include "platform/socket_address.h"

namespace sluice::platform {

Result<Endpoint> resolve_endpoint(const std::string& host, uint16_t port) {
  std::string_view literal = host;
  if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']') {
    literal = literal.substr(1, literal.size() - 2);
  }
  if (std::optional<IpAddress> a = IpAddress::parse(literal)) return Endpoint{unmap_v4(*a), port};
  if (host.empty()) return Error{"empty endpoint host", EINVAL};

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    int code = rc == EAI_AGAIN ? EAGAIN : rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
    return Error{"resolving " + host + ": " + gai_strerror(rc), code};
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(list, &freeaddrinfo);
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (std::optional<Endpoint> e = to_endpoint(ai->ai_addr, ai->ai_addrlen)) {
      e->port = port;
      spdlog::debug("resolved {} to {}", host, e->to_string());
      return *e;
    }
  }
  return Error{"resolving " + host + ": no IPv4 or IPv6 address", EHOSTUNREACH};
}

}  // namespace sluice::platform
