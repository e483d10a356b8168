// The C functions of include/sluice.h: argument checks, error strings and the exception
// boundary. Everything else lives in EmbeddedTunnel.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "include/sluice.h"
#include "platform/embed_log.h"
#include "platform/embed_tunnel.h"
#include "tunnel/counters.h"

using sluice::platform::EmbeddedTunnel;
using sluice::platform::EmbedNetworkSettings;

struct sluice_tunnel {
  std::unique_ptr<EmbeddedTunnel> impl;
};

namespace {

void write_error(char* error, size_t error_size, const std::string& message) {
  if (error == nullptr || error_size == 0) return;
  const size_t n = std::min(message.size(), error_size - 1);
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

// Every entry point runs its body through this: nothing thrown may cross into C.
template <class F>
int guarded(char* error, size_t error_size, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    write_error(error, error_size, "out of memory");
    return SLUICE_ERR_NO_MEMORY;
  } catch (const std::exception& e) {
    write_error(error, error_size, e.what());
    return SLUICE_ERR_SYSTEM;
  } catch (...) {
    write_error(error, error_size, "unexpected failure");
    return SLUICE_ERR_SYSTEM;
  }
}

bool batch_pointers_valid(const uint8_t* const* buffers, const size_t* lengths,
                          const void* third, size_t count) {
  if (count == 0) return true;
  if (buffers == nullptr || lengths == nullptr || third == nullptr) return false;
  for (size_t i = 0; i < count; ++i) {
    if (buffers[i] == nullptr) return false;
  }
  return true;
}

// The return value is an int; a larger batch is taken in part, as a full queue would be.
size_t bounded_count(size_t count) { return std::min<size_t>(count, INT_MAX); }

int clamp_count(long taken) {
  if (taken < 0) return SLUICE_ERR_STATE;
  return static_cast<int>(taken);
}

using PrefixList = std::vector<sluice_prefix> EmbedNetworkSettings::*;

int copy_setting(const sluice_tunnel* tunnel, PrefixList list, sluice_prefix* out,
                 size_t capacity) {
  if (tunnel == nullptr || (out == nullptr && capacity != 0)) return SLUICE_ERR_INVALID_ARGUMENT;
  const size_t count =
      sluice::platform::copy_prefixes(tunnel->impl->network_settings().*list, out, capacity);
  return static_cast<int>(std::min<size_t>(count, INT_MAX));
}

}  // namespace

extern "C" {

int sluice_set_log_callback(sluice_log_fn fn, void* context, int min_level) {
  return guarded(nullptr, 0, [&] {
    return sluice::platform::set_embed_log_callback(fn, context, min_level)
               ? SLUICE_OK
               : SLUICE_ERR_INVALID_ARGUMENT;
  });
}

void sluice_tunnel_options_init(sluice_tunnel_options* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof *options);
  options->tun_fd = -1;
}

int sluice_tunnel_create(const char* config_text, size_t config_length,
                         const sluice_tunnel_options* options, sluice_tunnel** out, char* error,
                         size_t error_size) {
  if (out != nullptr) *out = nullptr;
  return guarded(error, error_size, [&] {
    if (out == nullptr || options == nullptr || (config_text == nullptr && config_length != 0)) {
      write_error(error, error_size, "config_text, options and out must not be NULL");
      return SLUICE_ERR_INVALID_ARGUMENT;
    }
    sluice::platform::install_embed_logger();
    sluice::platform::EmbedOptions o;
    o.context = options->context;
    o.packets_to_host = options->packets_to_host;
    o.liveness = options->liveness;
    o.tun_fd = options->tun_fd;
    o.datagrams_to_network = options->datagrams_to_network;
    o.memory_limit = options->memory_limit;
    o.crypto_threads = options->crypto_threads;
    if (options->log_prefix != nullptr) o.log_prefix = options->log_prefix;
    auto created = EmbeddedTunnel::create(
        std::string_view(config_text == nullptr ? "" : config_text, config_length), std::move(o));
    if (auto* e = std::get_if<sluice::platform::EmbedCreateError>(&created)) {
      write_error(error, error_size, e->message);
      return e->code;
    }
    auto* tunnel = new sluice_tunnel{std::get<std::unique_ptr<EmbeddedTunnel>>(std::move(created))};
    *out = tunnel;
    return SLUICE_OK;
  });
}

int sluice_tunnel_start(sluice_tunnel* tunnel, char* error, size_t error_size) {
  return guarded(error, error_size, [&] {
    if (tunnel == nullptr) {
      write_error(error, error_size, "tunnel must not be NULL");
      return SLUICE_ERR_INVALID_ARGUMENT;
    }
    if (tunnel->impl->running()) {
      write_error(error, error_size, "the tunnel is already started");
      return SLUICE_ERR_STATE;
    }
    if (auto failed = tunnel->impl->start()) {
      write_error(error, error_size, failed->message);
      return failed->code == ENOMEM ? SLUICE_ERR_NO_MEMORY : SLUICE_ERR_SYSTEM;
    }
    return SLUICE_OK;
  });
}

int sluice_tunnel_listen_port(const sluice_tunnel* tunnel) {
  if (tunnel == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
  return tunnel->impl->listen_port();
}

int sluice_tunnel_stop(sluice_tunnel* tunnel) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
    return tunnel->impl->stop() ? SLUICE_OK : SLUICE_ERR_STATE;
  });
}

void sluice_tunnel_destroy(sluice_tunnel* tunnel) {
  if (tunnel == nullptr) return;
  // From a callback the stop cannot join the worker; freeing the tunnel under it would be
  // worse than leaking, so refuse (the header forbids the call).
  guarded(nullptr, 0, [&] {
    if (!tunnel->impl->stop()) return SLUICE_ERR_STATE;
    delete tunnel;
    return SLUICE_OK;
  });
}

int sluice_tunnel_write_packets(sluice_tunnel* tunnel, const uint8_t* const* packets,
                                const size_t* lengths, const int* families, size_t count) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr || !batch_pointers_valid(packets, lengths, families, count)) {
      return SLUICE_ERR_INVALID_ARGUMENT;
    }
    return clamp_count(
        tunnel->impl->write_packets(packets, lengths, families, bounded_count(count)));
  });
}

int sluice_tunnel_receive_datagrams(sluice_tunnel* tunnel, const uint8_t* const* datagrams,
                                    const size_t* lengths, const sluice_endpoint* sources,
                                    size_t count) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr || !batch_pointers_valid(datagrams, lengths, sources, count)) {
      return SLUICE_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; ++i) {
      if (sources[i].family != SLUICE_ENDPOINT_IPV4 && sources[i].family != SLUICE_ENDPOINT_IPV6) {
        return SLUICE_ERR_INVALID_ARGUMENT;
      }
    }
    return clamp_count(
        tunnel->impl->receive_datagrams(datagrams, lengths, sources, bounded_count(count)));
  });
}

int sluice_tunnel_network_changed(sluice_tunnel* tunnel) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
    return tunnel->impl->network_changed() ? SLUICE_OK : SLUICE_ERR_STATE;
  });
}

int sluice_tunnel_sleep(sluice_tunnel* tunnel) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
    return tunnel->impl->sleep() ? SLUICE_OK : SLUICE_ERR_STATE;
  });
}

int sluice_tunnel_wake(sluice_tunnel* tunnel) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
    return tunnel->impl->wake() ? SLUICE_OK : SLUICE_ERR_STATE;
  });
}

const char* sluice_drop_reason_name(int reason) {
  if (reason < 0 || reason >= static_cast<int>(sluice::DropReason::Count)) return nullptr;
  // The names are string literals, so data() is NUL-terminated.
  return sluice::drop_reason_name(static_cast<sluice::DropReason>(reason)).data();
}

int sluice_tunnel_get_stats(sluice_tunnel* tunnel, sluice_tunnel_stats* out) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr || out == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
    return tunnel->impl->get_stats(*out) ? SLUICE_OK : SLUICE_ERR_STATE;
  });
}

int sluice_tunnel_get_peer_stats(sluice_tunnel* tunnel, sluice_peer_stats* peers,
                                 size_t capacity) {
  return guarded(nullptr, 0, [&] {
    if (tunnel == nullptr || (peers == nullptr && capacity != 0)) {
      return SLUICE_ERR_INVALID_ARGUMENT;
    }
    size_t count = 0;
    if (!tunnel->impl->get_peer_stats(peers, capacity, count)) return SLUICE_ERR_STATE;
    return static_cast<int>(std::min<size_t>(count, INT_MAX));
  });
}

int sluice_tunnel_mtu(const sluice_tunnel* tunnel) {
  if (tunnel == nullptr) return SLUICE_ERR_INVALID_ARGUMENT;
  return static_cast<int>(tunnel->impl->network_settings().mtu);
}

int sluice_tunnel_addresses(const sluice_tunnel* tunnel, sluice_prefix* out, size_t capacity) {
  return copy_setting(tunnel, &EmbedNetworkSettings::addresses, out, capacity);
}

int sluice_tunnel_dns_servers(const sluice_tunnel* tunnel, sluice_prefix* out, size_t capacity) {
  return copy_setting(tunnel, &EmbedNetworkSettings::dns_servers, out, capacity);
}

int sluice_tunnel_routes(const sluice_tunnel* tunnel, sluice_prefix* out, size_t capacity) {
  return copy_setting(tunnel, &EmbedNetworkSettings::routes, out, capacity);
}

const char* sluice_tunnel_dns_search_domain(const sluice_tunnel* tunnel, size_t index) {
  if (tunnel == nullptr) return nullptr;
  const auto& domains = tunnel->impl->network_settings().dns_search;
  return index < domains.size() ? domains[index].c_str() : nullptr;
}

}  // extern "C"
