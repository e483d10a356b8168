#include "crypto/cookie.h"

#include <sodium.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "crypto/aead.h"

namespace sluice::crypto {

namespace {

constexpr std::string_view kLabelMac1 = "mac1----";
constexpr std::string_view kLabelCookie = "cookie--";

// HASH(label || public key): the per-key mac1 key and cookie encryption key.
Key labelled_key(std::string_view label, const PublicKey& public_key) {
  return hash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(label.data()), label.size()), public_key);
}

struct MacOffsets {
  size_t mac1;
  size_t mac2;
};

std::optional<MacOffsets> mac_offsets(size_t message_size) {
  if (message_size == kHandshakeInitiationSize) return MacOffsets{kInitiationMac1Offset, kInitiationMac2Offset};
  if (message_size == kHandshakeResponseSize) return MacOffsets{kResponseMac1Offset, kResponseMac2Offset};
  return std::nullopt;
}

bool expired(int64_t birth_ns, int64_t now_ns) { return now_ns - birth_ns >= kCookieSecretMaxAgeNs; }

bool mac_matches(const Mac& expected, std::span<const uint8_t> msg, size_t offset) {
  return sodium_memcmp(expected.data(), msg.data() + offset, expected.size()) == 0;
}

}  // namespace

CookieChecker::~CookieChecker() {
  wipe(mac1_key_);
  wipe(cookie_key_);
  wipe(secret_);
}

void CookieChecker::init(const PublicKey& local_public) {
  mac1_key_ = labelled_key(kLabelMac1, local_public);
  cookie_key_ = labelled_key(kLabelCookie, local_public);
}

bool CookieChecker::check_mac1(std::span<const uint8_t> msg) const {
  const auto offsets = mac_offsets(msg.size());
  if (!offsets) return false;
  return mac_matches(mac(mac1_key_, msg.first(offsets->mac1)), msg, offsets->mac1);
}

bool CookieChecker::secret_valid(int64_t now_ns) const { return has_secret_ && !expired(secret_birth_ns_, now_ns); }

Mac CookieChecker::make_cookie(std::span<const uint8_t> source) const { return mac(secret_, source); }

bool CookieChecker::check_mac2(std::span<const uint8_t> msg, std::span<const uint8_t> source, int64_t now_ns) {
  const auto offsets = mac_offsets(msg.size());
  if (!offsets || !secret_valid(now_ns)) return false;
  Mac cookie = make_cookie(source);
  const bool ok = mac_matches(mac(cookie, msg.first(offsets->mac2)), msg, offsets->mac2);
  wipe(cookie);
  return ok;
}

void CookieChecker::create_reply(std::span<const uint8_t> msg, uint32_t receiver_index,
                                 std::span<const uint8_t> source, int64_t now_ns,
                                 std::span<uint8_t, kCookieReplySize> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  const auto offsets = mac_offsets(msg.size());
  if (!offsets) return;

  if (!secret_valid(now_ns)) {
    randombytes_buf(secret_.data(), secret_.size());
    secret_birth_ns_ = now_ns;
    has_secret_ = true;
  }
  Mac cookie = make_cookie(source);

  out[0] = static_cast<uint8_t>(MessageType::CookieReply);
  write_le32(out.data() + kCookieReplyReceiverOffset, receiver_index);
  XAeadNonce nonce;
  randombytes_buf(nonce.data(), nonce.size());
  std::copy(nonce.begin(), nonce.end(), out.begin() + kCookieReplyNonceOffset);
  xaead_seal(std::span<uint8_t>(out).subspan(kCookieReplyCookieOffset), cookie_key_, nonce, cookie,
             msg.subspan(offsets->mac1, kMacSize));
  wipe(cookie);
}

CookieMaker::~CookieMaker() {
  wipe(mac1_key_);
  wipe(cookie_key_);
  wipe(cookie_);
}

void CookieMaker::init(const PublicKey& remote_public) {
  mac1_key_ = labelled_key(kLabelMac1, remote_public);
  cookie_key_ = labelled_key(kLabelCookie, remote_public);
  wipe(cookie_);
  has_cookie_ = false;
  has_last_mac1_ = false;
}

void CookieMaker::add_macs(std::span<uint8_t> msg, int64_t now_ns) {
  const auto offsets = mac_offsets(msg.size());
  if (!offsets) return;

  last_mac1_ = mac(mac1_key_, msg.first(offsets->mac1));
  std::copy(last_mac1_.begin(), last_mac1_.end(), msg.begin() + static_cast<std::ptrdiff_t>(offsets->mac1));
  has_last_mac1_ = true;

  Mac mac2{};
  if (has_cookie_ && !expired(cookie_birth_ns_, now_ns)) mac2 = mac(cookie_, msg.first(offsets->mac2));
  std::copy(mac2.begin(), mac2.end(), msg.begin() + static_cast<std::ptrdiff_t>(offsets->mac2));
}

bool CookieMaker::consume_reply(std::span<const uint8_t, kCookieReplySize> reply, int64_t now_ns) {
  if (!has_last_mac1_ || classify_message(reply) != MessageType::CookieReply) return false;

  XAeadNonce nonce;
  std::copy_n(reply.begin() + kCookieReplyNonceOffset, nonce.size(), nonce.begin());
  Mac cookie;
  if (!xaead_open(cookie, cookie_key_, nonce, std::span<const uint8_t>(reply).subspan(kCookieReplyCookieOffset),
                  last_mac1_))
    return false;
  cookie_ = cookie;
  wipe(cookie);
  cookie_birth_ns_ = now_ns;
  has_cookie_ = true;
  has_last_mac1_ = false;
  return true;
}

}  // namespace sluice::crypto
