#include "tunnel/allowed_ips.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace sluice {

// Addresses are held as big-endian integers so that "bit i" is bit i of the address in network
// order and the common prefix of two keys is a count of leading zeros of their xor.
struct AllowedIps::Key4 {
  static constexpr unsigned kBits = 32;
  uint32_t bits = 0;

  static Key4 load(const uint8_t* p) {
    return {uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]}};
  }
  void store(uint8_t* p) const {
    for (unsigned i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(bits >> (24 - 8 * i));
  }
  unsigned bit(unsigned i) const { return (bits >> (31 - i)) & 1; }
  Key4 masked(unsigned length) const {
    // A shift by the full width is undefined, hence the special case for /0.
    return {length == 0 ? 0 : bits & (~uint32_t{0} << (32 - length))};
  }
  friend unsigned common_prefix(const Key4& a, const Key4& b) {
    return static_cast<unsigned>(std::countl_zero(a.bits ^ b.bits));
  }
};

struct AllowedIps::Key6 {
  static constexpr unsigned kBits = 128;
  uint64_t hi = 0, lo = 0;

  static uint64_t load64(const uint8_t* p) {
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
  }
  static void store64(uint64_t v, uint8_t* p) {
    for (unsigned i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
  }
  static Key6 load(const uint8_t* p) { return {load64(p), load64(p + 8)}; }
  void store(uint8_t* p) const {
    store64(hi, p);
    store64(lo, p + 8);
  }
  unsigned bit(unsigned i) const {
    return i < 64 ? (hi >> (63 - i)) & 1 : (lo >> (127 - i)) & 1;
  }
  Key6 masked(unsigned length) const {
    if (length == 0) return {};
    if (length <= 64) return {hi & (~uint64_t{0} << (64 - length)), 0};
    return {hi, lo & (~uint64_t{0} << (128 - length))};
  }
  friend unsigned common_prefix(const Key6& a, const Key6& b) {
    if (a.hi != b.hi) return static_cast<unsigned>(std::countl_zero(a.hi ^ b.hi));
    return 64 + static_cast<unsigned>(std::countl_zero(a.lo ^ b.lo));
  }
};

// A node is either a prefix (has_peer) or a branch point where two stored prefixes diverge.
// Invariant: a node without a peer has exactly two children, so nodes < 2 * prefixes.
// Children are indexed by the key bit just past this node's length.
template <class Key>
struct AllowedIps::Node {
  Key key;  // masked to `length`
  uint8_t length = 0;
  bool has_peer = false;
  uint32_t peer = 0;
  uint64_t sequence = 0;  // when the prefix was last inserted
  NodePtr<Key> child[2];
};

namespace {

template <class Node, class Key>
std::optional<uint32_t> longest_match(const Node* node, const Key& key) {
  std::optional<uint32_t> best;
  // Every node below one that does not match shares its prefix, so the first mismatch ends it.
  while (node != nullptr && common_prefix(node->key, key) >= node->length) {
    if (node->has_peer) best = node->peer;
    if (node->length == Key::kBits) break;
    node = node->child[key.bit(node->length)].get();
  }
  return best;
}

struct Found {
  uint64_t sequence;
  IpPrefix prefix;
};

template <class Node>
void collect_peer(const Node* node, uint32_t peer, IpFamily family, std::vector<Found>& out) {
  if (node == nullptr) return;
  if (node->has_peer && node->peer == peer) {
    IpPrefix p;
    p.address.family = family;
    node->key.store(p.address.bytes.data());
    p.length = node->length;
    out.push_back({node->sequence, p});
  }
  collect_peer(node->child[0].get(), peer, family, out);
  collect_peer(node->child[1].get(), peer, family, out);
}

}  // namespace

AllowedIps::AllowedIps() = default;
AllowedIps::~AllowedIps() = default;
AllowedIps::AllowedIps(AllowedIps&&) noexcept = default;
AllowedIps& AllowedIps::operator=(AllowedIps&&) noexcept = default;

template <class Key>
bool AllowedIps::insert_key(NodePtr<Key>& root, Key key, unsigned length, uint32_t peer) {
  if (length > Key::kBits) return false;
  key = key.masked(length);
  auto new_leaf = [&] {
    auto leaf = std::make_unique<Node<Key>>();
    leaf->key = key;
    leaf->length = static_cast<uint8_t>(length);
    leaf->has_peer = true;
    leaf->peer = peer;
    leaf->sequence = next_sequence_++;
    return leaf;
  };

  NodePtr<Key>* slot = &root;
  while (*slot) {
    Node<Key>& node = **slot;
    unsigned common = std::min({common_prefix(node.key, key), unsigned{node.length}, length});
    if (common == node.length) {
      if (node.length == length) {
        // The exact prefix (perhaps a branch point so far): take it over, and count it as
        // newly inserted for ordering, as the Linux module moves it to the end of the new
        // owner's list.
        if (!node.has_peer) ++size_;
        node.has_peer = true;
        node.peer = peer;
        node.sequence = next_sequence_++;
        return true;
      }
      slot = &node.child[key.bit(node.length)];
      continue;
    }
    // `node` is not a prefix of `key`: either `key` is a prefix of `node`, or the two diverge
    // at bit `common` and need a branch point. Everything is allocated before relinking, so a
    // failed allocation leaves the trie as it was.
    if (common == length) {
      auto leaf = new_leaf();
      leaf->child[node.key.bit(length)] = std::move(*slot);
      *slot = std::move(leaf);
      nodes_ += 1;
    } else {
      auto branch = std::make_unique<Node<Key>>();
      branch->key = key.masked(common);
      branch->length = static_cast<uint8_t>(common);
      auto leaf = new_leaf();
      unsigned side = key.bit(common);
      branch->child[side ^ 1] = std::move(*slot);
      branch->child[side] = std::move(leaf);
      *slot = std::move(branch);
      nodes_ += 2;
    }
    ++size_;
    return true;
  }
  *slot = new_leaf();
  ++nodes_;
  ++size_;
  return true;
}

// Restores the invariant at `slot` after its prefix or one of its children went away: a node
// with no prefix and fewer than two children has no reason to exist.
template <class Key>
void AllowedIps::collapse(NodePtr<Key>& slot) {
  Node<Key>* node = slot.get();
  if (node == nullptr || node->has_peer) return;
  if (node->child[0] && node->child[1]) return;
  // The surviving child already sits where its own first bits would lead, so it can take the
  // parent's slot unchanged.
  NodePtr<Key> only = std::move(node->child[node->child[0] ? 0 : 1]);
  slot = std::move(only);
  --nodes_;
}

template <class Key>
bool AllowedIps::remove_key(NodePtr<Key>& slot, const Key& key, unsigned length, uint32_t peer) {
  Node<Key>* node = slot.get();
  if (node == nullptr || node->length > length || common_prefix(node->key, key) < node->length)
    return false;
  if (node->length == length) {
    if (!node->has_peer || node->peer != peer) return false;
    node->has_peer = false;
    --size_;
  } else if (!remove_key(node->child[key.bit(node->length)], key, length, peer)) {
    return false;
  }
  collapse(slot);
  return true;
}

template <class Key>
void AllowedIps::remove_peer_from(NodePtr<Key>& slot, uint32_t peer) {
  if (!slot) return;
  // Children first, so each node is collapsed once with its final set of children.
  remove_peer_from(slot->child[0], peer);
  remove_peer_from(slot->child[1], peer);
  if (slot->has_peer && slot->peer == peer) {
    slot->has_peer = false;
    --size_;
  }
  collapse(slot);
}

bool AllowedIps::insert(const IpPrefix& prefix, uint32_t peer) {
  const uint8_t* bytes = prefix.address.bytes.data();
  if (prefix.address.family == IpFamily::v4)
    return insert_key(root4_, Key4::load(bytes), prefix.length, peer);
  return insert_key(root6_, Key6::load(bytes), prefix.length, peer);
}

bool AllowedIps::remove(const IpPrefix& prefix, uint32_t peer) {
  const uint8_t* bytes = prefix.address.bytes.data();
  if (prefix.address.family == IpFamily::v4) {
    if (prefix.length > Key4::kBits) return false;
    return remove_key(root4_, Key4::load(bytes).masked(prefix.length), prefix.length, peer);
  }
  if (prefix.length > Key6::kBits) return false;
  return remove_key(root6_, Key6::load(bytes).masked(prefix.length), prefix.length, peer);
}

void AllowedIps::remove_peer(uint32_t peer) {
  remove_peer_from(root4_, peer);
  remove_peer_from(root6_, peer);
}

std::optional<uint32_t> AllowedIps::lookup(const IpAddress& address) const {
  if (address.family == IpFamily::v4) return lookup_v4(address.bytes.data());
  return lookup_v6(address.bytes.data());
}

std::optional<uint32_t> AllowedIps::lookup_v4(const uint8_t* addr4) const {
  return longest_match(root4_.get(), Key4::load(addr4));
}

std::optional<uint32_t> AllowedIps::lookup_v6(const uint8_t* addr16) const {
  return longest_match(root6_.get(), Key6::load(addr16));
}

std::vector<IpPrefix> AllowedIps::prefixes_of(uint32_t peer) const {
  std::vector<Found> found;
  collect_peer(root4_.get(), peer, IpFamily::v4, found);
  collect_peer(root6_.get(), peer, IpFamily::v6, found);
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.sequence < b.sequence; });
  std::vector<IpPrefix> out;
  out.reserve(found.size());
  for (const Found& f : found) out.push_back(f.prefix);
  return out;
}

void AllowedIps::clear() {
  root4_.reset();
  root6_.reset();
  size_ = 0;
  nodes_ = 0;
}

}  // namespace sluice
