#include "crypto/noise_ikpsk2.h"

#include <algorithm>

#include "crypto/x25519.h"

namespace sluice::crypto {

namespace {

constexpr size_t kEncryptedStaticSize = 32 + kAeadTagSize;

// The "e" token. In psk handshakes Noise (§9.2) also mixes e into the chaining key, so every
// key derived afterwards is randomised by the ephemeral even before the first DH.
void mix_ephemeral(SymmetricState& state, const PublicKey& ephemeral_public) {
  state.mix_hash(ephemeral_public);
  state.mix_key(ephemeral_public);
}

PublicKey key_at(std::span<const uint8_t> msg, size_t offset) {
  PublicKey key;
  std::copy_n(msg.begin() + static_cast<std::ptrdiff_t>(offset), key.size(), key.begin());
  return key;
}

}  // namespace

void ikpsk2_initialize(SymmetricState& state, std::string_view protocol_name, std::span<const uint8_t> prologue,
                       const PublicKey& responder_static) {
  state.initialize(protocol_name);
  state.mix_hash(prologue);
  state.mix_hash(responder_static);
}

bool ikpsk2_write_message1(SymmetricState& state, const PrivateKey& ephemeral_private,
                           const PublicKey& local_static_public, const PublicKey& remote_static,
                           const Key& static_static, std::span<const uint8_t> payload, std::span<uint8_t> out) {
  if (out.size() != ikpsk2_message1_size(payload.size())) return false;

  const PublicKey ephemeral_public = public_key_of(ephemeral_private);
  std::copy(ephemeral_public.begin(), ephemeral_public.end(), out.begin());
  mix_ephemeral(state, ephemeral_public);

  if (!state.mix_dh(ephemeral_private, remote_static)) return false;  // es
  if (!state.encrypt_and_hash(out.subspan(kIkpsk2Message1StaticOffset, kEncryptedStaticSize), local_static_public))
    return false;

  if (is_zero(static_static)) return false;  // ss: the peer's static key is low-order
  state.mix_key(static_static);
  return state.encrypt_and_hash(out.subspan(kIkpsk2Message1PayloadOffset), payload);
}

bool ikpsk2_read_message1_static(SymmetricState& state, const PrivateKey& local_static_private,
                                 std::span<const uint8_t> msg, PublicKey& remote_ephemeral,
                                 PublicKey& remote_static) {
  if (msg.size() < ikpsk2_message1_size(0)) return false;

  remote_ephemeral = key_at(msg, 0);
  mix_ephemeral(state, remote_ephemeral);

  if (!state.mix_dh(local_static_private, remote_ephemeral)) return false;  // es
  return state.decrypt_and_hash(remote_static, msg.subspan(kIkpsk2Message1StaticOffset, kEncryptedStaticSize));
}

bool ikpsk2_read_message1_payload(SymmetricState& state, const Key& static_static, std::span<const uint8_t> msg,
                                  std::span<uint8_t> payload_out) {
  if (msg.size() < ikpsk2_message1_size(0) || payload_out.size() != msg.size() - ikpsk2_message1_size(0))
    return false;
  if (is_zero(static_static)) return false;  // ss
  state.mix_key(static_static);
  return state.decrypt_and_hash(payload_out, msg.subspan(kIkpsk2Message1PayloadOffset));
}

bool ikpsk2_write_message2(SymmetricState& state, const PrivateKey& ephemeral_private,
                           const PublicKey& remote_ephemeral, const PublicKey& remote_static,
                           const Key& preshared_key, std::span<const uint8_t> payload, std::span<uint8_t> out) {
  if (out.size() != ikpsk2_message2_size(payload.size())) return false;

  const PublicKey ephemeral_public = public_key_of(ephemeral_private);
  std::copy(ephemeral_public.begin(), ephemeral_public.end(), out.begin());
  mix_ephemeral(state, ephemeral_public);

  if (!state.mix_dh(ephemeral_private, remote_ephemeral)) return false;  // ee
  if (!state.mix_dh(ephemeral_private, remote_static)) return false;     // se
  state.mix_key_and_hash(preshared_key);                                   // psk
  return state.encrypt_and_hash(out.subspan(kIkpsk2Message2PayloadOffset), payload);
}

bool ikpsk2_read_message2(SymmetricState& state, const PrivateKey& ephemeral_private,
                          const PrivateKey& local_static_private, const Key& preshared_key,
                          std::span<const uint8_t> msg, std::span<uint8_t> payload_out) {
  if (msg.size() < ikpsk2_message2_size(0) || payload_out.size() != msg.size() - ikpsk2_message2_size(0))
    return false;

  const PublicKey remote_ephemeral = key_at(msg, 0);
  mix_ephemeral(state, remote_ephemeral);

  if (!state.mix_dh(ephemeral_private, remote_ephemeral)) return false;     // ee
  if (!state.mix_dh(local_static_private, remote_ephemeral)) return false;  // se
  state.mix_key_and_hash(preshared_key);                                      // psk
  return state.decrypt_and_hash(payload_out, msg.subspan(kIkpsk2Message2PayloadOffset));
}

}  // namespace sluice::crypto
