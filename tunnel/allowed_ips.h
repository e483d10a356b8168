// AllowedIPs: WireGuard's cryptokey routing table. Outbound, the longest prefix that contains
// a packet's destination picks the peer to encrypt for; inbound, a decrypted packet is only
// accepted if the longest prefix containing its source belongs to the peer that sent it.
//
// One path-compressed binary trie per address family. Peers are named by a small integer id
// chosen by the device, so the table holds no pointers into peer objects and never dangles.
// Lookups do not modify the table, so concurrent lookups are safe; any change needs the
// caller to exclude readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "tunnel/ip_address.h"

namespace sluice {

class AllowedIps {
 public:
  AllowedIps();
  ~AllowedIps();
  AllowedIps(AllowedIps&&) noexcept;
  AllowedIps& operator=(AllowedIps&&) noexcept;
  AllowedIps(const AllowedIps&) = delete;
  AllowedIps& operator=(const AllowedIps&) = delete;

  // Routes `prefix` (host bits are ignored) to `peer`. A prefix already in the table moves to
  // `peer`, as in WireGuard: one prefix has exactly one owner. Returns false, changing
  // nothing, only if the length exceeds the family's maximum.
  bool insert(const IpPrefix& prefix, uint32_t peer);

  // Removes `prefix` if it is routed to `peer`; another peer's route is left alone, so a
  // stale removal cannot take a route that was since reassigned. Returns whether it removed.
  bool remove(const IpPrefix& prefix, uint32_t peer);

  // Removes every prefix routed to `peer`. Linear in the size of the table.
  void remove_peer(uint32_t peer);

  // Longest-prefix match. The raw forms are the hot path: `addr4` points to 4 and `addr16`
  // to 16 bytes in network order, borrowed for the call only (usually straight from an IP
  // header in a packet buffer).
  std::optional<uint32_t> lookup(const IpAddress& address) const;
  std::optional<uint32_t> lookup_v4(const uint8_t* addr4) const;
  std::optional<uint32_t> lookup_v6(const uint8_t* addr16) const;

  // The prefixes routed to `peer`, masked, in the order they were last inserted (what `wg show`
  // prints). Linear in the size of the table: meant for status and config dumps.
  std::vector<IpPrefix> prefixes_of(uint32_t peer) const;

  size_t size() const { return size_; }  // number of prefixes
  bool empty() const { return size_ == 0; }
  void clear();

  // Trie nodes currently allocated, including branch nodes that hold no prefix. Always less
  // than 2 * size(): exposed so tests and memory accounting can check that removal frees.
  size_t node_count() const { return nodes_; }

 private:
  struct Key4;  // an address as integers, so matching is a few word operations
  struct Key6;
  template <class Key>
  struct Node;
  template <class Key>
  using NodePtr = std::unique_ptr<Node<Key>>;

  template <class Key>
  bool insert_key(NodePtr<Key>& root, Key key, unsigned length, uint32_t peer);
  template <class Key>
  bool remove_key(NodePtr<Key>& slot, const Key& key, unsigned length, uint32_t peer);
  template <class Key>
  void remove_peer_from(NodePtr<Key>& slot, uint32_t peer);
  template <class Key>
  void collapse(NodePtr<Key>& slot);

  NodePtr<Key4> root4_;
  NodePtr<Key6> root6_;
  size_t size_ = 0;
  size_t nodes_ = 0;
  // Stamps each insertion so prefixes_of() can report insertion order without a per-peer list.
  uint64_t next_sequence_ = 0;
};

}  // namespace sluice
