// The C functions lwIP's port layer expects from us (arch/cc.h, lwip_hooks.h): randomness,
// assertions, diagnostics and the TCP initial sequence number. Their definitions live in
// lwip_port.cpp; sys_now() is in lwip_clock.cpp.
#pragma once

namespace sluice::ipstack {

// Once per process, before lwip_init(): initialises libsodium (idempotent) and draws the
// secret behind initial sequence numbers. Safe to call again.
void lwip_port_init();

}  // namespace sluice::ipstack
