# lwIP from Debian 12's `lwip` source package (unpacked by scripts/fetch-lwip.sh, which
# scripts/install-deps.sh runs), built here as a static C library with our own options
# (ipstack/lwipopts.h, ipstack/arch/cc.h): the core, IPv4, IPv6, TCP and UDP with NO_SYS=1.
# No netif drivers, apps, sockets or netconn. Debian's liblwip-dev is not used: it is built
# with NO_SYS=0, malloc-backed pools and the sockets API.
#
# Defines the target `sluice_lwip`. lwIP's own sources are compiled without our -Werror
# warnings; its headers are SYSTEM includes, so our C++ that includes them keeps -Werror.

if(DEFINED ENV{SLUICE_DEPS_DIR})
  set(_sluice_lwip_default "$ENV{SLUICE_DEPS_DIR}/lwip")
else()
  set(_sluice_lwip_default "${PROJECT_SOURCE_DIR}/.deps/lwip")
endif()
set(SLUICE_LWIP_SOURCE_DIR "${_sluice_lwip_default}" CACHE PATH
    "Unpacked Debian lwip source package (scripts/fetch-lwip.sh prints its path)")

if(NOT EXISTS "${SLUICE_LWIP_SOURCE_DIR}/src/core/tcp.c")
  message(FATAL_ERROR
    "lwIP sources not found in SLUICE_LWIP_SOURCE_DIR=${SLUICE_LWIP_SOURCE_DIR}.\n"
    "Run scripts/fetch-lwip.sh (scripts/install-deps.sh runs it) to fetch Debian's lwip "
    "source package, or point -DSLUICE_LWIP_SOURCE_DIR at an unpacked copy.")
endif()

if(EXISTS "${SLUICE_LWIP_SOURCE_DIR}/.sluice-lwip-version")
  file(READ "${SLUICE_LWIP_SOURCE_DIR}/.sluice-lwip-version" _sluice_lwip_version)
  string(STRIP "${_sluice_lwip_version}" _sluice_lwip_version)
  message(STATUS "lwIP: Debian source package ${_sluice_lwip_version} in ${SLUICE_LWIP_SOURCE_DIR}")
endif()

# Disabled features (DHCP, ARP, MLD, fragmentation...) compile to empty objects, so taking
# whole directories keeps this list stable across lwIP versions.
file(GLOB SLUICE_LWIP_SOURCES
     "${SLUICE_LWIP_SOURCE_DIR}/src/core/*.c"
     "${SLUICE_LWIP_SOURCE_DIR}/src/core/ipv4/*.c"
     "${SLUICE_LWIP_SOURCE_DIR}/src/core/ipv6/*.c")

add_library(sluice_lwip STATIC ${SLUICE_LWIP_SOURCES})
set_target_properties(sluice_lwip PROPERTIES C_STANDARD 11 C_EXTENSIONS ON)
target_include_directories(sluice_lwip SYSTEM PUBLIC
  "${PROJECT_SOURCE_DIR}/ipstack"  # lwipopts.h, arch/cc.h, lwip_hooks.h
  "${SLUICE_LWIP_SOURCE_DIR}/src/include")
# Our defaults are warnings-as-errors; lwIP's code is not ours to change, so only silence it.
target_compile_options(sluice_lwip PRIVATE -w)
