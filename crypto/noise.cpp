#include "crypto/noise.h"

#include <algorithm>

#include "crypto/noise_ikpsk2.h"
#include "crypto/noise_symmetric.h"
#include "crypto/x25519.h"

namespace sluice::crypto {

namespace {

static_assert(kInitiationEphemeralOffset + ikpsk2_message1_size(sizeof(Tai64n)) == kInitiationMac1Offset);
static_assert(kResponseEphemeralOffset + ikpsk2_message2_size(0) == kResponseMac1Offset);
static_assert(kInitiationEphemeralOffset + kIkpsk2Message1StaticOffset == kInitiationStaticOffset);
static_assert(kInitiationEphemeralOffset + kIkpsk2Message1PayloadOffset == kInitiationTimestampOffset);
static_assert(kResponseEphemeralOffset + kIkpsk2Message2PayloadOffset == kResponseEmptyOffset);

void initialize(SymmetricState& state, const PublicKey& responder_static) {
  const std::span<const uint8_t> identifier(reinterpret_cast<const uint8_t*>(kWireGuardIdentifier.data()),
                                            kWireGuardIdentifier.size());
  ikpsk2_initialize(state, kNoiseConstruction, identifier, responder_static);
}

// The Noise message inside each WireGuard handshake message: from the ephemeral key up to mac1.
std::span<const uint8_t> initiation_body(std::span<const uint8_t, kHandshakeInitiationSize> msg) {
  return std::span<const uint8_t>(msg).subspan(kInitiationEphemeralOffset,
                                               kInitiationMac1Offset - kInitiationEphemeralOffset);
}

std::span<const uint8_t> response_body(std::span<const uint8_t, kHandshakeResponseSize> msg) {
  return std::span<const uint8_t>(msg).subspan(kResponseEphemeralOffset,
                                               kResponseMac1Offset - kResponseEphemeralOffset);
}

void write_header(std::span<uint8_t> out, MessageType type) {
  out[0] = static_cast<uint8_t>(type);
  out[1] = out[2] = out[3] = 0;
}

}  // namespace

bool create_initiation(const StaticIdentity& local, const PublicKey& remote_static,
                       const Key& precomputed_static_static, const Key& /*preshared_key*/, uint32_t local_index,
                       const Tai64n& timestamp, InitiatorHandshake& state,
                       std::span<uint8_t, kHandshakeInitiationSize> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  write_header(out, MessageType::HandshakeInitiation);
  write_le32(out.data() + kInitiationSenderOffset, local_index);

  SymmetricState noise;
  initialize(noise, remote_static);
  state.ephemeral_private = generate_private_key();
  const std::span<uint8_t> body =
      std::span<uint8_t>(out).subspan(kInitiationEphemeralOffset, kInitiationMac1Offset - kInitiationEphemeralOffset);
  if (!ikpsk2_write_message1(noise, state.ephemeral_private, local.public_key, remote_static,
                             precomputed_static_static, timestamp, body)) {
    wipe(state);
    std::fill(out.begin(), out.end(), uint8_t{0});
    return false;
  }
  state.hash = noise.hash();
  state.chaining_key = noise.chaining_key();
  state.local_index = local_index;
  return true;
}

std::optional<ConsumedInitiation> decrypt_initiation_static(const StaticIdentity& local,
                                                            std::span<const uint8_t, kHandshakeInitiationSize> msg) {
  if (classify_message(msg) != MessageType::HandshakeInitiation) return std::nullopt;

  SymmetricState noise;
  initialize(noise, local.public_key);
  ConsumedInitiation st;
  if (!ikpsk2_read_message1_static(noise, local.private_key, initiation_body(msg), st.remote_ephemeral,
                                   st.remote_static))
    return std::nullopt;
  st.hash = noise.hash();
  st.chaining_key = noise.chaining_key();
  st.remote_index = read_le32(msg.data() + kInitiationSenderOffset);
  return st;
}

bool decrypt_initiation_timestamp(ConsumedInitiation& st, const Key& precomputed_static_static,
                                  std::span<const uint8_t, kHandshakeInitiationSize> msg) {
  SymmetricState noise(st.chaining_key, st.hash);
  Tai64n timestamp;
  if (!ikpsk2_read_message1_payload(noise, precomputed_static_static, initiation_body(msg), timestamp))
    return false;
  st.hash = noise.hash();
  st.chaining_key = noise.chaining_key();
  st.timestamp = timestamp;
  return true;
}

std::optional<SessionKeys> create_response(ConsumedInitiation& st, const Key& preshared_key, uint32_t local_index,
                                           std::span<uint8_t, kHandshakeResponseSize> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  write_header(out, MessageType::HandshakeResponse);
  write_le32(out.data() + kResponseSenderOffset, local_index);
  write_le32(out.data() + kResponseReceiverOffset, st.remote_index);

  SymmetricState noise(st.chaining_key, st.hash);
  wipe(st.hash);
  wipe(st.chaining_key);

  PrivateKey ephemeral_private = generate_private_key();
  const std::span<uint8_t> body =
      std::span<uint8_t>(out).subspan(kResponseEphemeralOffset, kResponseMac1Offset - kResponseEphemeralOffset);
  const bool ok = ikpsk2_write_message2(noise, ephemeral_private, st.remote_ephemeral, st.remote_static,
                                        preshared_key, {}, body);
  wipe(ephemeral_private);
  if (!ok) {
    std::fill(out.begin(), out.end(), uint8_t{0});
    return std::nullopt;
  }
  SessionKeys keys;
  noise.split(keys.receiving, keys.sending);
  return keys;
}

std::optional<SessionKeys> consume_response(const InitiatorHandshake& st, const StaticIdentity& local,
                                            const Key& preshared_key,
                                            std::span<const uint8_t, kHandshakeResponseSize> msg) {
  if (classify_message(msg) != MessageType::HandshakeResponse) return std::nullopt;
  if (read_le32(msg.data() + kResponseReceiverOffset) != st.local_index) return std::nullopt;

  SymmetricState noise(st.chaining_key, st.hash);
  if (!ikpsk2_read_message2(noise, st.ephemeral_private, local.private_key, preshared_key, response_body(msg), {}))
    return std::nullopt;
  SessionKeys keys;
  noise.split(keys.sending, keys.receiving);
  return keys;
}

}  // namespace sluice::crypto
